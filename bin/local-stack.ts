/**
 * `npm start`: the whole of Parley on this machine.
 *
 * Ctrl-C (SIGINT), SIGTERM or SIGHUP at any moment, the start-up included, stops everything
 * it started: a start in progress is cancelled (an engine being started is killed, one
 * already started is stopped). It then exits with 128 + the signal's number (130 for
 * SIGINT, 143 for SIGTERM, 129 for SIGHUP), as a shell reports a program a signal ended,
 * so that a script or a supervisor can tell a stop from a success; 129 too when the process
 * that started it is gone. A wrong setting exits with 2, a start that fails with 1.
 */
import { parseArgs } from 'node:util';
import { presenceConsumer } from '../definitions/stream-consumers.js';
import { DEFAULT_FAST_PATH_MAX_CONNECTIONS, LOCAL_JWT_SECRET, type ParleyConfig } from '../lambdas/config.js';
import { DEFAULT_MAX_TOKEN_AGE_SECONDS } from '../lambdas/domain/tokens.js';
import { type RunningDeployedStack, startDeployedStack } from '../local/deployed/stack.js';
import { assertPortFree } from '../local/engines.js';
import { EngineStartError, LocalSettingsError, WebServerStartError } from '../local/errors.js';
import { exposureNotice } from '../local/exposure.js';
import { CDK_DEFAULT_THROTTLE, type RunningLocalStack, startLocalStack } from '../local/stack.js';
import { DEFAULT_WEB_PORT, webAppOrigins } from '../local/web-port.js';
import { type RunningWebServer, startWebServer } from '../local/web-server.js';

// The machines this runs on have Node.js 20; Lambda runs 22. The SDK's notice about its
// future Node 22 requirement is for the former, and would drown the ready message.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

// ---------------------------------------------------------------- settings

interface Settings {
  /** Run the synthesized stack (cdk.out, its bundles and the template's environment) instead of the sources. */
  deployed: boolean;
  wsPort: number;
  webPort: number;
  /** The local push service's port (engines mode). */
  pushPort: number;
  /** Keep DynamoDB Local's data here; in memory when absent. */
  dataDir: string | undefined;
  presenceWindowSeconds: number;
  streamDelayMs: number;
  fastPathMaxConnections: number;
  jwtSecret: string | undefined;
  logLevel: ParleyConfig['logLevel'];
  /** Browser origins a handshake may come from: the web app's, or `PARLEY_ALLOWED_ORIGINS`. */
  allowedOrigins: string[];
  maxTokenAgeSeconds: number;
}

/** The command line and the PARLEY_* variables, checked: every setting is read here. */
function readSettings(args: string[], environment: NodeJS.ProcessEnv): Settings {
  let deployed = false;
  try {
    const { values } = parseArgs({
      args,
      options: { deployed: { type: 'boolean', default: false } },
      strict: true,
      allowPositionals: false,
    });
    deployed = values.deployed === true;
  } catch (error) {
    throw new LocalSettingsError(`npm start: ${(error as Error).message}`, { cause: error });
  }
  const wsPort = readNumber(environment, 'PARLEY_WS_PORT', 3001, { min: 1, max: 65535, integer: true });
  const webPort = readNumber(environment, 'PARLEY_WEB_PORT', DEFAULT_WEB_PORT, {
    min: 1,
    max: 65535,
    integer: true,
  });
  if (webPort === wsPort) {
    throw new LocalSettingsError(`PARLEY_WEB_PORT and PARLEY_WS_PORT must differ; both are ${webPort}`);
  }
  const pushPort = readNumber(environment, 'PARLEY_PUSH_PORT', 3003, { min: 1, max: 65535, integer: true });
  if (pushPort === wsPort || pushPort === webPort) {
    throw new LocalSettingsError(
      `PARLEY_PUSH_PORT must differ from PARLEY_WS_PORT and PARLEY_WEB_PORT (${pushPort})`,
    );
  }
  return {
    deployed,
    wsPort,
    webPort,
    pushPort,
    dataDir: environment.PARLEY_DATA_DIR || undefined,
    presenceWindowSeconds: readNumber(
      environment,
      'PARLEY_PRESENCE_WINDOW_SECONDS',
      presenceConsumer.maximumBatchingWindowInSeconds,
      { min: 0, max: 10 },
    ),
    streamDelayMs: readNumber(environment, 'PARLEY_STREAM_DELAY_MS', 0, { min: 0, max: 10_000 }),
    fastPathMaxConnections: readNumber(
      environment,
      'FAST_PATH_MAX_CONNECTIONS',
      DEFAULT_FAST_PATH_MAX_CONNECTIONS,
      {
        min: 0,
        max: 1000,
        integer: true,
      },
    ),
    jwtSecret: environment.PARLEY_JWT_SECRET || undefined,
    allowedOrigins: environment.PARLEY_ALLOWED_ORIGINS?.trim()
      ? environment.PARLEY_ALLOWED_ORIGINS.split(',').map((origin) => origin.trim())
      : webAppOrigins(webPort),
    maxTokenAgeSeconds: readNumber(
      environment,
      'PARLEY_MAX_TOKEN_AGE_SECONDS',
      DEFAULT_MAX_TOKEN_AGE_SECONDS,
      {
        min: 60,
        max: 30 * 24 * 60 * 60,
        integer: true,
      },
    ),
    logLevel: (environment.POWERTOOLS_LOG_LEVEL ?? 'WARN') as ParleyConfig['logLevel'],
  };
}

const UNITS: Record<string, string> = {
  PARLEY_WS_PORT: 'a port number',
  PARLEY_WEB_PORT: 'a port number',
  PARLEY_PUSH_PORT: 'a port number',
  PARLEY_PRESENCE_WINDOW_SECONDS: 'a number of seconds',
  PARLEY_STREAM_DELAY_MS: 'a number of milliseconds',
  FAST_PATH_MAX_CONNECTIONS: 'a whole number of connections',
  PARLEY_MAX_TOKEN_AGE_SECONDS: 'a whole number of seconds',
};

/** `environment[name]` as a number within bounds, `fallback` when unset or empty. */
function readNumber(
  environment: NodeJS.ProcessEnv,
  name: string,
  fallback: number,
  bounds: { min: number; max: number; integer?: boolean },
): number {
  const text = environment[name];
  if (text === undefined || text.trim() === '') return fallback;
  const value = Number(text);
  if (!(value >= bounds.min && value <= bounds.max) || (bounds.integer && !Number.isInteger(value))) {
    throw new LocalSettingsError(
      `${name} must be ${UNITS[name] ?? 'a number'} from ${bounds.min} to ${bounds.max}, not ${text}`,
    );
  }
  return value;
}

// ---------------------------------------------------------------- start and stop

interface Started {
  stack: RunningLocalStack | RunningDeployedStack;
  web: RunningWebServer;
}

/** Starts the stack, then the web app; `signal` cancels it at any point, leaving nothing running. */
async function start(settings: Settings, signal: AbortSignal): Promise<Started> {
  // Fail at once, before the engines start, when the web app's port is taken.
  await assertPortFree(settings.webPort, 'the web app, PARLEY_WEB_PORT');
  if (!settings.deployed) await assertPortFree(settings.pushPort, 'the local push service, PARLEY_PUSH_PORT');
  const stack = settings.deployed
    ? await startDeployedStack({
        wsPort: settings.wsPort,
        logLevel: settings.logLevel,
        streamDelayMs: settings.streamDelayMs,
        signal,
        log: (message) => console.error(message),
        ...(settings.dataDir ? { dataDir: settings.dataDir } : {}),
        ...(settings.jwtSecret ? { jwtSecret: settings.jwtSecret } : {}),
      })
    : await startLocalStack({
        wsPort: settings.wsPort,
        logLevel: settings.logLevel,
        presenceBatchingWindowSeconds: settings.presenceWindowSeconds,
        streamDelayMs: settings.streamDelayMs,
        fastPathMaxConnections: settings.fastPathMaxConnections,
        signal,
        ...(settings.dataDir ? { dataDir: settings.dataDir } : {}),
        ...(settings.jwtSecret ? { jwtSecret: settings.jwtSecret } : {}),
        // Throttled as a stack deployed without context is, so that a client meets the same limits.
        throttle: CDK_DEFAULT_THROTTLE,
        allowedOrigins: settings.allowedOrigins,
        maxTokenAgeSeconds: settings.maxTokenAgeSeconds,
        pushService: { port: settings.pushPort, log: (line) => console.log(line) },
      });
  try {
    signal.throwIfAborted();
    const web = await startWebServer({
      port: settings.webPort,
      wsUrl: stack.url,
      tokenSecret: stack.config.tokens.secret ?? LOCAL_JWT_SECRET,
      // Never longer than the authorizer takes, or the page's tokens would all be refused.
      tokenExpiresIn: `${settings.maxTokenAgeSeconds}s`,
      // The page subscribes to pushes with the key the push-notifier signs with.
      ...('push' in stack && stack.push ? { vapidPublicKey: stack.push.vapidPublicKey } : {}),
    });
    return { stack, web };
  } catch (error) {
    await stack.stop();
    throw error;
  }
}

function printReady({ stack, web }: Started, settings: Settings, startedAt: number, exposure: string): void {
  const streamDelay =
    settings.streamDelayMs > 0
      ? `\n  stream delay    ${settings.streamDelayMs} ms from a put to its consumers (PARLEY_STREAM_DELAY_MS)`
      : '';
  const localPush = 'push' in stack ? stack.push : undefined;
  const push = localPush
    ? `\n  push service    ${localPush.serviceUrl}  (a browser and its push service: see "Push notifications" in the README)\n  VAPID key       ${localPush.vapidPublicKey}`
    : '';
  const mode = settings.deployed
    ? `\n  running         the synthesized stack ${(stack as RunningDeployedStack).stackName}: its functions from their bundles in cdk.out`
    : '';
  console.log(`
Parley is ready in ${((Date.now() - startedAt) / 1000).toFixed(1)} s.

  web app: ${web.url}  (sign in as any user id; each browser tab is a device of its own)

  WebSocket URL   ${stack.url}/?token=<JWT>&deviceId=<device>
  @connections    ${stack.managementEndpoint}/@connections/{connectionId}
  DynamoDB Local  ${stack.config.endpoints.dynamodb}  (${settings.dataDir ? `data in ${settings.dataDir}` : 'in memory'})
  kinesis-mock    ${stack.config.endpoints.kinesis}
  JWT secret      ${settings.jwtSecret ? 'from PARLEY_JWT_SECRET' : `${LOCAL_JWT_SECRET} (HS256)`}${push}${streamDelay}${mode}
${exposure ? `\n${exposure}\n  (DynamoDB Local has no setting for its address; see "Local stack exposure" in the README.)\n` : ''}
Get a token:   npm run token -- alice
Try it:        npx wscat -c "${stack.url}/?token=$(npm run -s token -- alice)&deviceId=phone"
               then send {"action":"send","requestId":"r1","to":"bob","clientMessageId":"m1","body":"hello"}
End a user's connections now:
               npm run disconnect -- --user alice --dynamodb-endpoint ${stack.config.endpoints.dynamodb}

Ctrl-C stops everything.`);
}

function describeStartError(error: unknown): void {
  if (error instanceof EngineStartError || error instanceof WebServerStartError) {
    console.error(`Cannot start the local stack: ${error.message}`);
  } else {
    console.error('Cannot start the local stack:', error);
  }
}

// ---------------------------------------------------------------- main

let settings: Settings;
try {
  settings = readSettings(process.argv.slice(2), process.env);
} catch (error) {
  if (!(error instanceof LocalSettingsError)) throw error;
  console.error(error.message);
  process.exit(2);
}

// Ready before anything starts, so that a stop during the start-up cancels it.
const cancel = new AbortController();
let startup: Promise<Started> | undefined;
let stopping = false;
function stop(reason: string, exitCode: number): void {
  if (stopping) return;
  stopping = true;
  console.log(`\n${reason}: stopping the local stack…`);
  cancel.abort(new Error(`${reason}: the start was cancelled`));
  void (async () => {
    // A cancelled start has stopped what it started before it rejects.
    const started = await startup?.catch(() => undefined);
    await started?.web.stop();
    await started?.stack.stop();
    console.log('stopped.');
    process.exit(exitCode);
  })();
}
process.on('SIGINT', () => stop('SIGINT', 130));
process.on('SIGTERM', () => stop('SIGTERM', 143));
process.on('SIGHUP', () => stop('SIGHUP', 129));
// If whatever started us dies without passing a signal on (a shell between npm and node
// does not), we are orphaned: stop rather than leave the engines running.
const parentPid = process.ppid;
setInterval(() => {
  if (process.ppid !== parentPid) stop('parent process gone', 129);
}, 1000).unref();

const startedAt = Date.now();
console.log(
  settings.deployed
    ? 'Parley local stack: the synthesized stack (cdk.out) on DynamoDB Local and kinesis-mock…'
    : 'Parley local stack: starting DynamoDB Local, kinesis-mock and the WebSocket gateway…',
);
startup = start(settings, cancel.signal);
startup.then(
  async (started) => {
    const { dynamodb, kinesis } = started.stack.config.endpoints;
    const exposure = await exposureNotice([
      { name: 'DynamoDB Local', endpoint: dynamodb ?? '' },
      { name: 'kinesis-mock', endpoint: kinesis ?? '' },
    ]);
    if (!stopping) printReady(started, settings, startedAt, exposure);
  },
  (error: unknown) => {
    if (stopping) return; // the stop in progress exits
    describeStartError(error);
    process.exit(1);
  },
);
