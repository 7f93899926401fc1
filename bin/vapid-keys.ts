/**
 * `npm run vapid-keys -- [--subject mailto:ops@example.com] [--stage dev]`: makes a VAPID key
 * pair for Web Push (RFC 8292) with the `web-push` library and prints the public key, the
 * command that stores the private key in Secrets Manager, and the deploy that turns Web Push
 * on. Nothing is written to disk or sent anywhere: the private key appears once, in this
 * output, for the operator to store.
 */
import { parseArgs } from 'node:util';
import webPush from 'web-push';

interface VapidKeyPair {
  publicKey: string;
  privateKey: string;
}

/** What the operator runs next, for `keys`. */
function vapidKeyInstructions(
  keys: VapidKeyPair,
  { subject, stage }: { subject: string; stage: string },
): string {
  const secretName = `parley/${stage}/vapid-private-key`;
  return [
    `VAPID public key (clients subscribe with it; the stack's VapidPublicKey output):`,
    `  ${keys.publicKey}`,
    '',
    'Store the private key in Secrets Manager (this prints the secret’s complete ARN):',
    `  aws secretsmanager create-secret --name ${secretName} \\`,
    `    --description "Parley ${stage}: the VAPID private key Web Push is signed with" \\`,
    `    --secret-string ${keys.privateKey} --query ARN --output text`,
    '',
    'Then deploy with Web Push on:',
    `  npx cdk deploy -c stage=${stage} -c vapidPublicKey=${keys.publicKey} \\`,
    `    -c vapidPrivateKeySecretArn=<the ARN printed above> -c vapidSubject=${subject}`,
    '',
    'The private key is shown only here: keep it nowhere else (not in cdk.json, not in context).',
  ].join('\n');
}

function main(): void {
  const { values } = parseArgs({
    options: {
      subject: { type: 'string', default: 'mailto:ops@example.com' },
      stage: { type: 'string', default: 'dev' },
    },
  });
  if (!/^(mailto:\S+@\S+|https:\/\/\S+)$/.test(values.subject)) {
    console.error(
      'usage: npm run vapid-keys -- [--subject mailto:you@example.com | https://…] [--stage dev]',
    );
    process.exit(2);
  }
  console.log(
    vapidKeyInstructions(webPush.generateVAPIDKeys(), { subject: values.subject, stage: values.stage }),
  );
}

main();
