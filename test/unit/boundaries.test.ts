/**
 * The folders' import arrows run one way, and the linter holds them: biome.json's
 * noRestrictedImports overrides refuse an import across a boundary.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIOME = join(ROOT, 'node_modules', '.bin', 'biome');
const WORKSPACE_PACKAGES: Record<string, string> = { '@parley/protocol': 'protocol', '@parley/sdk': 'sdk' };

/** Every `from '…'` specifier of the committed and new TypeScript files, by the file's folder. */
function folderImports(): Map<string, Set<string>> {
  const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard', '*.ts'], { cwd: ROOT })
    .toString()
    .split('\n')
    .filter(Boolean);
  const edges = new Map<string, Set<string>>();
  for (const file of files) {
    const from = file.split('/')[0] ?? '';
    for (const [, specifier] of readFileSync(join(ROOT, file), 'utf8').matchAll(/from '([^']+)'/g)) {
      if (!specifier) continue;
      const packageName = Object.keys(WORKSPACE_PACKAGES).find(
        (name) => specifier === name || specifier.startsWith(`${name}/`),
      );
      const to = packageName
        ? WORKSPACE_PACKAGES[packageName]
        : specifier.startsWith('.')
          ? normalize(relative(ROOT, join(ROOT, dirname(file), specifier))).split('/')[0]
          : undefined;
      if (!to || to === from) continue;
      edges.set(from, (edges.get(from) ?? new Set()).add(to));
    }
  }
  return edges;
}

const PROBES: Array<[folder: string, source: string]> = [
  ['sdk/src', "import { handler } from '../../lambdas/handlers/send.js';"],
  ['protocol/src', "import { ParleyClient } from '@parley/sdk';"],
  ['lambdas/handlers', "import { ParleyStack } from '../../lib/parley-stack.js';"],
  ['lib/constructs', "import { handler } from '../../lambdas/handlers/send.js';"],
  ['lambdas/domain', "import { DynamoDBClient } from '@aws-sdk/client-dynamodb';"],
  ['definitions', "import { z } from '@parley/protocol';"],
  ['web/src', "import { ParleyClient } from '../../sdk/src/index.js';"],
];
const ALLOWED: Array<[folder: string, source: string]> = [
  ['lambdas/handlers', "import { z } from '@parley/protocol';"],
  ['sdk/src', "import { z } from '@parley/protocol';"],
];

/**
 * Biome's restricted-import diagnostics for each source, written as a file in its folder
 * (the overrides apply by path, and Biome reports nothing for standard input).
 */
function restrictedImportsIn(probes: Array<[string, string]>): boolean[] {
  const paths = probes.map(([folder], index) => join(folder, `boundary-probe-${process.pid}-${index}.ts`));
  try {
    probes.forEach(([, source], index) => {
      writeFileSync(
        join(ROOT, paths[index] ?? ''),
        `${source}\nexport const probe = [${source.match(/\{ (\w+) \}/)?.[1]}];\n`,
      );
    });
    const result = spawnSync(BIOME, ['lint', '--max-diagnostics=100', ...paths], { cwd: ROOT });
    const output = `${result.stdout}${result.stderr}`;
    return paths.map(
      (path) =>
        output.includes(`${path}:1:`) && output.split(path)[1]?.includes('noRestrictedImports') === true,
    );
  } finally {
    for (const path of paths) rmSync(join(ROOT, path), { force: true });
  }
}

describe('folder boundaries', () => {
  const edges = folderImports();

  it('has no two folders importing each other', () => {
    const twoWay = [...edges].flatMap(([from, targets]) =>
      [...targets].filter((to) => edges.get(to)?.has(from)).map((to) => `${from} <-> ${to}`),
    );
    expect(twoWay).toEqual([]);
  });

  it('keeps the SDK and the protocol free of the server, the infrastructure and the local stack', () => {
    expect([...(edges.get('sdk') ?? [])]).toEqual(['protocol']);
    expect([...(edges.get('protocol') ?? [])]).toEqual([]);
    expect([...(edges.get('definitions') ?? [])]).toEqual([]);
  });

  it('is held by the linter: an import across a boundary fails `npm run lint`', () => {
    expect(restrictedImportsIn(PROBES)).toEqual(PROBES.map(() => true));
  });

  it('lets each folder import what it may', () => {
    expect(restrictedImportsIn(ALLOWED)).toEqual(ALLOWED.map(() => false));
  });
});
