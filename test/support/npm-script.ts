/** Runs an npm script's command as npm would once it has exec'd it, without npm in between. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPOSITORY_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The arguments of node in `package.json`'s script `name` (`exec node --import tsx bin/…`). */
export function nodeArgsOfScript(name: string): string[] {
  const { scripts } = JSON.parse(readFileSync(join(REPOSITORY_ROOT, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  };
  const script = scripts[name];
  if (!script) throw new Error(`package.json has no script ${name}`);
  return script.replace(/^(exec )?node /, '').split(' ');
}
