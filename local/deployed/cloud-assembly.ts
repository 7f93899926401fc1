/**
 * The cloud assembly `cdk synth` writes (`cdk.out`): which stack to run, where its
 * template is, and whether it is older than the sources, in which case it is synthesized
 * again with the project's own `cdk synth`.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TemplateError } from '../errors.js';
import { LOCAL_PUSH_CONTEXT } from './local-vapid.js';
import { type CloudFormationTemplate, readTemplate, resourcesOfType } from './template.js';

export const PROJECT_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEFAULT_CLOUD_ASSEMBLY = join(PROJECT_ROOT, 'cdk.out');

/** What the bundles and the template are made from: a change to any of these calls for a new synth. */
const SOURCES = ['bin/parley.ts', 'lib', 'lambdas', 'package-lock.json', 'cdk.json'];

export interface SynthesizedStack {
  stackName: string;
  template: CloudFormationTemplate;
  /** The folder the template's `aws:asset:path` entries are relative to. */
  assemblyDir: string;
}

/**
 * Runs `cdk synth` into `assemblyDir` when its template is missing or older than the
 * sources. Returns whether it synthesized.
 */
export async function synthesizeIfStale(
  assemblyDir = DEFAULT_CLOUD_ASSEMBLY,
  log: (message: string) => void = () => {},
): Promise<boolean> {
  const templates = existsSync(assemblyDir)
    ? readdirSync(assemblyDir).filter((name) => name.endsWith('.template.json'))
    : [];
  const builtAt = Math.min(...templates.map((name) => statSync(join(assemblyDir, name)).mtimeMs));
  if (templates.length > 0 && newestSource() <= builtAt) return false;
  log(`synthesizing the stack into ${assemblyDir} (npx cdk synth)…`);
  await runCdkSynth(assemblyDir);
  return true;
}

/** The application stack of the assembly: the one with a WebSocket API, or the one named. */
export function readSynthesizedStack(
  assemblyDir = DEFAULT_CLOUD_ASSEMBLY,
  stackName?: string,
): SynthesizedStack {
  const manifestPath = join(assemblyDir, 'manifest.json');
  if (!existsSync(manifestPath)) {
    throw new TemplateError(`no cloud assembly in ${assemblyDir}: run npx cdk synth first`);
  }
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as {
    artifacts?: Record<string, { type: string; properties?: { templateFile?: string } }>;
  };
  const stacks = Object.entries(manifest.artifacts ?? {}).filter(
    ([, artifact]) => artifact.type === 'aws:cloudformation:stack' && artifact.properties?.templateFile,
  );
  const candidates = stacks
    .filter(([name]) => !stackName || name === stackName)
    .map(([name, artifact]) => ({
      stackName: name,
      template: readTemplate(join(assemblyDir, artifact.properties?.templateFile ?? '')),
      assemblyDir,
    }))
    .filter(({ template }) => stackName || resourcesOfType(template, 'AWS::ApiGatewayV2::Api').length > 0);
  const [found] = candidates;
  if (!found || candidates.length > 1) {
    throw new TemplateError(
      `${assemblyDir} holds ${candidates.length === 0 ? 'no' : 'more than one'} stack with a WebSocket API` +
        `${stackName ? ` named ${stackName}` : ''}; stacks: ${stacks.map(([name]) => name).join(', ') || 'none'}`,
    );
  }
  return found;
}

function newestSource(): number {
  let newest = 0;
  const visit = (path: string) => {
    const stats = statSync(path);
    if (stats.isDirectory()) {
      for (const entry of readdirSync(path)) visit(join(path, entry));
    } else {
      newest = Math.max(newest, stats.mtimeMs);
    }
  };
  for (const source of SOURCES) {
    const path = join(PROJECT_ROOT, source);
    if (existsSync(path)) visit(path);
  }
  return newest;
}

async function runCdkSynth(assemblyDir: string): Promise<void> {
  const cdk = join(PROJECT_ROOT, 'node_modules', 'aws-cdk', 'bin', 'cdk');
  const output: string[] = [];
  // Web Push on, with the local stack's key pair: what deploys with push is what is tested.
  const push = Object.entries(LOCAL_PUSH_CONTEXT).flatMap(([key, value]) => ['-c', `${key}=${value}`]);
  const child = spawn(process.execPath, [cdk, 'synth', '--quiet', '--output', assemblyDir, ...push], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, CDK_DISABLE_VERSION_CHECK: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', resolve);
  });
  if (code !== 0) {
    throw new TemplateError(`npx cdk synth failed (exit ${code}):\n${output.join('').slice(-4000)}`);
  }
}
