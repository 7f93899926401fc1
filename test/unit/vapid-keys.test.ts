import { execFile } from 'node:child_process';
import { createECDH } from 'node:crypto';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { vapidKeyInstructions } from '../../bin/vapid-keys.js';
import { parseSettings } from '../../lib/settings.js';

const run = promisify(execFile);
const KEYS = { publicKey: `B${'x'.repeat(86)}`, privateKey: 'p'.repeat(43) };

describe('npm run vapid-keys', () => {
  it('prints a P-256 key pair whose halves belong together', async () => {
    const { stdout } = await run(
      process.execPath,
      [
        '--conditions=@parley/source',
        '--import',
        'tsx',
        'bin/vapid-keys.ts',
        '--subject',
        'mailto:ops@example.com',
      ],
      { cwd: process.cwd() },
    );
    const publicKey = /^ {2}([A-Za-z0-9_-]{87})$/m.exec(stdout)?.[1];
    const privateKey = /--secret-string ([A-Za-z0-9_-]{43}) /.exec(stdout)?.[1];
    if (!publicKey || !privateKey) throw new Error(`no key pair in:\n${stdout}`);
    const ecdh = createECDH('prime256v1');
    ecdh.setPrivateKey(Buffer.from(privateKey, 'base64url'));
    expect(ecdh.getPublicKey().toString('base64url')).toBe(publicKey);
  });

  it('prints the secret to create and a deploy whose settings the synth accepts', () => {
    const text = vapidKeyInstructions(KEYS, { subject: 'mailto:ops@example.com', stage: 'prod' });
    expect(text).toContain(`aws secretsmanager create-secret --name parley/prod/vapid-private-key \\`);
    expect(text).toContain(`--secret-string ${KEYS.privateKey} --query ARN --output text`);
    const context: Record<string, string> = Object.fromEntries(
      [...text.matchAll(/-c (\w+)=(\S+)/g)].map(([, key = '', value = '']) => [key, value]),
    );
    expect(context).toMatchObject({
      stage: 'prod',
      vapidPublicKey: KEYS.publicKey,
      vapidSubject: 'mailto:ops@example.com',
    });
    context.vapidPrivateKeySecretArn =
      'arn:aws:secretsmanager:eu-west-1:123456789012:secret:parley/prod/vapid-private-key-AbC123';
    expect(parseSettings((key) => context[key]).push?.vapid?.publicKey).toBe(KEYS.publicKey);
    // The private key goes to Secrets Manager only, never into the deploy's context.
    expect(text.slice(text.indexOf('npx cdk deploy'))).not.toContain(KEYS.privateKey);
  });
});
