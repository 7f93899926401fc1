import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FUNCTIONS } from '../../definitions/functions.js';
import type { TemplateJson } from './support/synthesize.js';

const run = promisify(execFile);
const CDK_CLI = join('node_modules', 'aws-cdk', 'bin', 'cdk');

/**
 * Runs `cdk synth` as a new user does, with no AWS credentials, no AWS configuration and
 * no CDK environment variables: only the project's own files and the context given.
 */
async function cdkSynth(outdir: string, context: Record<string, string>) {
  const home = await mkdtemp(join(tmpdir(), 'parley-home-'));
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('AWS_') && !name.startsWith('CDK_')),
  );
  const contextArgs = Object.entries(context).flatMap(([key, value]) => ['-c', `${key}=${value}`]);
  try {
    return await run(
      process.execPath,
      [CDK_CLI, 'synth', '--quiet', '--no-notices', '-o', outdir, ...contextArgs],
      {
        env: { ...env, HOME: home, AWS_EC2_METADATA_DISABLED: 'true' },
        maxBuffer: 64 * 1024 * 1024,
      },
    ).then(
      ({ stdout, stderr }) => ({ ok: true as const, stdout, stderr }),
      (error: { stdout: string; stderr: string }) => ({
        ok: false as const,
        stdout: error.stdout,
        stderr: error.stderr,
      }),
    );
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

// `cdk synth` bundles every function with esbuild: about 30 s on an idle two-core machine.
describe('npx cdk synth', { timeout: 240_000 }, () => {
  let outdir: string;
  let result: Awaited<ReturnType<typeof cdkSynth>>;

  beforeAll(async () => {
    outdir = await mkdtemp(join(tmpdir(), 'parley-cdk-'));
    result = await cdkSynth(outdir, { stage: 'qa' });
  }, 240_000);

  afterAll(async () => {
    await rm(outdir, { recursive: true, force: true });
  });

  it('synthesizes the stack Parley-{stage} without an AWS account, and cdk-nag finds nothing unacknowledged', async () => {
    expect(result.stderr).not.toMatch(/AwsSolutions-|Synthesis finished with errors/);
    expect(result.ok).toBe(true);
    const manifest = JSON.parse(await readFile(join(outdir, 'manifest.json'), 'utf8'));
    // With no profile the CLI assumes us-east-1, and no account at all.
    expect(manifest.artifacts['Parley-qa']).toMatchObject({
      type: 'aws:cloudformation:stack',
      environment: expect.stringMatching(/^aws:\/\/unknown-account\//),
    });
  });

  it('bundles each function into one minified file with its source map, exporting handler', async () => {
    const template = JSON.parse(await readFile(join(outdir, 'Parley-qa.template.json'), 'utf8'));
    const functions = Object.values(
      template.Resources as Record<string, { Type: string; Properties: TemplateJson }>,
    ).filter((resource) => resource.Type === 'AWS::Lambda::Function');
    expect(functions).toHaveLength(FUNCTIONS.length);
    const assets = new Set(functions.map((fn) => (fn.Properties.Code.S3Key as string).replace(/\.zip$/, '')));
    // Handlers share no asset: each is its own bundle.
    expect(assets.size).toBe(FUNCTIONS.length);
    for (const asset of assets) {
      const folder = join(outdir, `asset.${asset}`);
      expect((await readdir(folder)).sort()).toEqual(['index.js', 'index.js.map']);
      const code = await readFile(join(folder, 'index.js'), 'utf8');
      expect(code).toMatch(/handler/);
      // Minified: whole modules to a line, where readable code averages under 40 characters.
      expect(code.length / code.split('\n').length).toBeGreaterThan(1_000);
      expect((await stat(join(folder, 'index.js'))).size).toBeLessThan(3 * 1024 * 1024);
    }
  });
});

describe('cdk synth with bad settings', { timeout: 60_000 }, () => {
  // Each run costs seconds: the settings' own tests cover the other values.
  it.concurrent.each([
    [{ stage: 'Not_A_Stage' }, 'Invalid stage "Not_A_Stage": a stage is a lowercase letter'],
    [{ shards: '0' }, 'Invalid context shards'],
  ])('refuses %j with an error naming the setting', async (context, message) => {
    const outdir = await mkdtemp(join(tmpdir(), 'parley-cdk-'));
    try {
      const result = await cdkSynth(outdir, context);
      expect(result.ok).toBe(false);
      expect(result.stderr).toContain(message);
    } finally {
      await rm(outdir, { recursive: true, force: true });
    }
  });
});
