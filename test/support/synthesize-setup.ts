/**
 * Global setup of the `deployed` project: `cdk synth` once, as a user runs it, into a
 * folder of its own (so that a `cdk.out` the user works with is left alone), for every
 * test that runs the synthesized stack.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { synthesizeIfStale } from '../../local/deployed/cloud-assembly.js';

declare module 'vitest' {
  export interface ProvidedContext {
    cloudAssemblyDir: string;
  }
}

let assemblyDir: string | undefined;

export async function setup(project: TestProject): Promise<void> {
  // An assembly synthesized elsewhere (another commit, a CI artefact) is tested as it is.
  const given = process.env.PARLEY_TEST_CLOUD_ASSEMBLY;
  if (given) {
    project.provide('cloudAssemblyDir', given);
    return;
  }
  assemblyDir = mkdtempSync(join(tmpdir(), 'parley-cdk-out-'));
  await synthesizeIfStale(assemblyDir);
  project.provide('cloudAssemblyDir', assemblyDir);
}

export async function teardown(): Promise<void> {
  if (assemblyDir) rmSync(assemblyDir, { recursive: true, force: true });
  assemblyDir = undefined;
}
