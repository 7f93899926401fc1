/**
 * `npm run web -- --url <WebSocketUrl> --secret-arn <TokenSigningKeyArn> [--vapid-public-key <VapidPublicKey>]`: the web app
 * pointed at a deployed stack. It serves the app on http://127.0.0.1:3000 (PARLEY_WEB_PORT)
 * as `npm start` does, and its sign-in answers with the stack's WebSocket URL and a token
 * signed with the stack's key, read once from Secrets Manager with your AWS credentials
 * (`PARLEY_JWT_SECRET` instead of `--secret-arn` gives the key itself). With the stack's
 * VAPID public key, the page offers to turn on notifications (Web Push). A tool for trying a
 * stage, not for production: whoever can reach the port can sign in as anyone.
 */
import { parseArgs } from 'node:util';
import { WebServerStartError } from '../local/errors.js';
import { isVapidPublicKey, startWebServer, VAPID_PUBLIC_KEY_RULE } from '../local/web-server.js';
import { readSigningKey, SigningKeyError } from './signing-key.js';

const USAGE = `usage: npm run web -- --url <WebSocketUrl> [--secret-arn <TokenSigningKeyArn>] [--vapid-public-key <VapidPublicKey>]
  --url               the stack's WebSocketUrl output: wss://{apiId}.execute-api.{region}.amazonaws.com/{stage}
  --secret-arn        the stack's TokenSigningKeyArn output (or set PARLEY_JWT_SECRET to the key)
  --vapid-public-key  the stack's VapidPublicKey output: the page offers notifications (Web Push)
  PARLEY_WEB_PORT  the port of the web app (default 3000; 0 picks a free one)`;

function fail(message: string): never {
  console.error(`${message}\n${USAGE}`);
  process.exit(2);
}

function readOptions() {
  let values: {
    url?: string | undefined;
    'secret-arn'?: string | undefined;
    'vapid-public-key'?: string | undefined;
  };
  try {
    ({ values } = parseArgs({
      options: {
        url: { type: 'string' },
        'secret-arn': { type: 'string' },
        'vapid-public-key': { type: 'string' },
      },
    }));
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
  if (!values.url) fail('--url is required');
  let url: URL;
  try {
    url = new URL(values.url);
  } catch {
    fail(`--url: not a URL: ${values.url}`);
  }
  if (url.protocol !== 'wss:' && url.protocol !== 'ws:') fail(`--url: must start with wss:// or ws://`);
  const portText = process.env.PARLEY_WEB_PORT || '3000';
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    fail(`PARLEY_WEB_PORT: must be a port number, not ${JSON.stringify(portText)}`);
  }
  const vapidPublicKey = values['vapid-public-key'];
  if (vapidPublicKey !== undefined && !isVapidPublicKey(vapidPublicKey)) {
    fail(`--vapid-public-key: ${VAPID_PUBLIC_KEY_RULE}`);
  }
  const secretArn = values['secret-arn'];
  if (!secretArn && !process.env.PARLEY_JWT_SECRET)
    fail('give --secret-arn, or the key in PARLEY_JWT_SECRET');
  // The URL as given, without the slash URL() would add after the stage.
  return {
    wsUrl: values.url.replace(/\/+$/, ''),
    port,
    secretArn,
    vapidPublicKey,
  };
}

const options = readOptions();
let tokenSecret: string;
try {
  tokenSecret = options.secretArn
    ? await readSigningKey(options.secretArn)
    : (process.env.PARLEY_JWT_SECRET as string);
} catch (error) {
  if (error instanceof SigningKeyError) fail(error.message);
  throw error;
}

try {
  const web = await startWebServer({
    port: options.port,
    wsUrl: options.wsUrl,
    tokenSecret,
    ...(options.vapidPublicKey ? { vapidPublicKey: options.vapidPublicKey } : {}),
  });
  console.log(`web app: ${web.url}  (sign in as any user id; the page connects to ${options.wsUrl})`);
  const stop = (signal: NodeJS.Signals, code: number) =>
    process.once(signal, () => {
      void web.stop().finally(() => process.exit(code));
    });
  stop('SIGINT', 130);
  stop('SIGTERM', 143);
} catch (error) {
  if (error instanceof WebServerStartError) {
    console.error(error.message);
    process.exit(1);
  }
  throw error;
}
