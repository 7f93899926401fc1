import { execFile } from 'node:child_process';
import { createECDH } from 'node:crypto';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseSettings } from '../../lib/settings.js';

const run = promisify(execFile);

describe('npm run vapid-keys', () => {
  let output = '';
  beforeAll(async () => {
    // Run as npm runs it: the test reads what an operator reads.
    const args = ['--subject', 'mailto:ops@example.com', '--stage', 'prod'];
    const script = ['--conditions=@parley/source', '--import', 'tsx', 'bin/vapid-keys.ts', ...args];
    output = (await run(process.execPath, script, { cwd: process.cwd() })).stdout;
  });

  it('prints a P-256 key pair whose halves belong together', () => {
    const publicKey = /^ {2}([A-Za-z0-9_-]{87})$/m.exec(output)?.[1];
    const privateKey = /--secret-string ([A-Za-z0-9_-]{43}) /.exec(output)?.[1];
    if (!publicKey || !privateKey) throw new Error(`no key pair in:\n${output}`);
    const ecdh = createECDH('prime256v1');
    ecdh.setPrivateKey(Buffer.from(privateKey, 'base64url'));
    expect(ecdh.getPublicKey().toString('base64url')).toBe(publicKey);
  });

  it('prints the secret to create and a deploy whose settings the synth accepts, without the private key', () => {
    expect(output).toContain('aws secretsmanager create-secret --name parley/prod/vapid-private-key \\');
    expect(output).toMatch(/--secret-string [A-Za-z0-9_-]{43} --query ARN --output text/);
    const deploy = output.slice(output.indexOf('npx cdk deploy'));
    const context: Record<string, string> = Object.fromEntries(
      [...deploy.matchAll(/-c (\w+)=(\S+)/g)].map(([, key = '', value = '']) => [key, value]),
    );
    expect(context).toMatchObject({ stage: 'prod', vapidSubject: 'mailto:ops@example.com' });
    context.vapidPrivateKeySecretArn =
      'arn:aws:secretsmanager:eu-west-1:123456789012:secret:parley/prod/vapid-private-key-AbC123';
    expect(parseSettings((key) => context[key]).push?.vapid?.publicKey).toBe(context.vapidPublicKey);
    const privateKey = /--secret-string ([A-Za-z0-9_-]{43}) /.exec(output)?.[1] ?? 'none';
    expect(deploy).not.toContain(privateKey);
  });
});
