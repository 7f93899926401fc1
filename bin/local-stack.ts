/**
 * `npm start`: the whole of Parley on this machine. Ctrl-C or SIGTERM stops everything
 * it started.
 */
import { LOCAL_JWT_SECRET } from '../lambdas/config.js';
import { presenceConsumer } from '../lib/event-mappings.js';
import { assertPortFree, EngineStartError } from '../local/engines.js';
import { CDK_DEFAULT_THROTTLE, startLocalStack } from '../local/stack.js';
import { startWebServer, WebServerStartError } from '../local/web-server.js';

// The machines this runs on have Node.js 20; Lambda runs 22. The SDK's notice about its
// future Node 22 requirement is for the former, and would drown the ready message.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const wsPort = Number(process.env.PARLEY_WS_PORT ?? 3001);
if (!Number.isInteger(wsPort) || wsPort < 1 || wsPort > 65535) {
  console.error(`PARLEY_WS_PORT must be a port number from 1 to 65535, not ${process.env.PARLEY_WS_PORT}`);
  process.exit(2);
}
const webPort = Number(process.env.PARLEY_WEB_PORT ?? 3000);
if (!Number.isInteger(webPort) || webPort < 1 || webPort > 65535) {
  console.error(`PARLEY_WEB_PORT must be a port number from 1 to 65535, not ${process.env.PARLEY_WEB_PORT}`);
  process.exit(2);
}
if (webPort === wsPort) {
  console.error(`PARLEY_WEB_PORT and PARLEY_WS_PORT must differ; both are ${webPort}`);
  process.exit(2);
}
const dataDir = process.env.PARLEY_DATA_DIR;
const presenceWindow = Number(
  process.env.PARLEY_PRESENCE_WINDOW_SECONDS ?? presenceConsumer.maximumBatchingWindowInSeconds,
);
if (!(presenceWindow >= 0 && presenceWindow <= 10)) {
  console.error(
    `PARLEY_PRESENCE_WINDOW_SECONDS must be a number of seconds from 0 to 10, not ${presenceWindow}`,
  );
  process.exit(2);
}
const logLevel = (process.env.POWERTOOLS_LOG_LEVEL ?? 'WARN') as 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

const startedAt = Date.now();
console.log('Parley local stack: starting DynamoDB Local, kinesis-mock and the WebSocket gateway…');
try {
  // Fail at once, before the engines start, when the web app's port is taken.
  await assertPortFree(webPort, 'the web app, PARLEY_WEB_PORT');
  const stack = await startLocalStack({
    wsPort,
    logLevel,
    presenceBatchingWindowSeconds: presenceWindow,
    // Throttled as a stack deployed without context is, so that a client meets the same limits.
    throttle: CDK_DEFAULT_THROTTLE,
    ...(dataDir ? { dataDir } : {}),
    ...(process.env.PARLEY_JWT_SECRET ? { jwtSecret: process.env.PARLEY_JWT_SECRET } : {}),
  });
  const web = await startWebServer({
    port: webPort,
    wsUrl: stack.url,
    tokenSecret: stack.config.tokens.secret ?? LOCAL_JWT_SECRET,
  }).catch(async (error: unknown) => {
    await stack.stop();
    throw error;
  });
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping the local stack…`);
    await web.stop();
    await stack.stop();
    console.log('stopped.');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGHUP', () => void stop('SIGHUP'));
  // If whatever started us dies without passing a signal on (a shell between npm and
  // node does not), we are orphaned: stop rather than leave the engines running.
  const parentPid = process.ppid;
  setInterval(() => {
    if (process.ppid !== parentPid) void stop('parent process gone');
  }, 1000).unref();

  console.log(`
Parley is ready in ${((Date.now() - startedAt) / 1000).toFixed(1)} s.

  web app: ${web.url}  (sign in as any user id; each browser tab is a device of its own)

  WebSocket URL   ${stack.url}/?token=<JWT>&deviceId=<device>
  @connections    ${stack.managementEndpoint}/@connections/{connectionId}
  DynamoDB Local  ${stack.config.endpoints.dynamodb}  (${dataDir ? `data in ${dataDir}` : 'in memory'})
  kinesis-mock    ${stack.config.endpoints.kinesis}
  JWT secret      ${process.env.PARLEY_JWT_SECRET ? 'from PARLEY_JWT_SECRET' : `${LOCAL_JWT_SECRET} (HS256)`}

Get a token:   npm run token -- alice
Try it:        npx wscat -c "${stack.url}/?token=$(npm run -s token -- alice)&deviceId=phone"
               then send {"action":"send","requestId":"r1","to":"bob","clientMessageId":"m1","body":"hello"}

Ctrl-C stops everything.`);
} catch (error) {
  if (error instanceof EngineStartError || error instanceof WebServerStartError) {
    console.error(`Cannot start the local stack: ${error.message}`);
  } else {
    console.error('Cannot start the local stack:', error);
  }
  process.exit(1);
}
