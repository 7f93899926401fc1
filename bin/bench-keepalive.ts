/**
 * `npm run bench:keepalive`: what the SDK's keep-alive does for idle devices. Runs N idle
 * SDK clients against a local stack whose gateway closes a connection after IDLE_MS without
 * a frame from it, for PERIODS idle periods, once with the keep-alive off and once on, and
 * prints reconnects, `$disconnect`s (each one a presence flap for a single-device user),
 * keep-alive frames (`keepalive` and `ping`) and pongs per device per hour, scaled to AWS's 10-minute idle limit. Everything the SDK times
 * (keep-alive, reconnect backoff) is scaled by the same factor, so one local idle period
 * stands for 10 minutes in AWS.
 *
 * Settings (environment): KEEPALIVE_DEVICES (default 20), KEEPALIVE_PERIODS (default 10),
 * KEEPALIVE_IDLE_MS (default 1000).
 */

import { ConnectionState, DEFAULT_KEEP_ALIVE_MS, ParleyClient, type WebSocketConstructor } from '@parley/sdk';
import WebSocket from 'ws';
import { readNumber } from '../bench/settings.js';
import { LOCAL_JWT_SECRET } from '../lambdas/config.js';
import { mintToken } from '../lambdas/domain/tokens.js';
import { type FunctionWrapper, startLocalStack } from '../local/stack.js';
import { DEFAULT_BACKOFF } from '../sdk/src/backoff.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** API Gateway's idle connection timeout (WebSocket quotas, "Idle Connection Timeout"). */
const AWS_IDLE_MS = 10 * 60 * 1000;
const HOUR_MS = 60 * 60 * 1000;

const devices = readNumber(process.env, 'KEEPALIVE_DEVICES', 20, 1);
const periods = readNumber(process.env, 'KEEPALIVE_PERIODS', 10, 1);
const idleMs = readNumber(process.env, 'KEEPALIVE_IDLE_MS', 1_000, 200);
/** Local milliseconds per AWS millisecond. */
const scale = idleMs / AWS_IDLE_MS;

const counts = { connect: 0, disconnect: 0, keepAlive: 0, pong: 0 };
const countInvocations: FunctionWrapper = (functionId, handler) => async (event, context) => {
  if (functionId === 'connect' || functionId === 'disconnect') counts[functionId]++;
  return handler(event, context);
};

/**
 * The clients' WebSocket, counting the keep-alives they send and the pongs they receive: the
 * gateway serves both kinds itself, so no function counts them. A constructor function, as
 * the SDK calls `new` on it.
 */
function CountingWebSocket(url: string): WebSocket {
  const socket = new WebSocket(url);
  const send = socket.send.bind(socket);
  socket.send = ((data: string) => {
    if (/"action":"(keepalive|ping)"/.test(data)) counts.keepAlive++;
    send(data);
  }) as WebSocket['send'];
  socket.addEventListener('message', ({ data }) => {
    if (String(data).includes('"type":"pong"')) counts.pong++;
  });
  return socket;
}

const stack = await startLocalStack({
  wsPort: 0,
  logLevel: 'ERROR',
  idleTimeoutMs: idleMs,
  wrapFunction: countInvocations,
});

interface Result {
  reconnects: number;
  disconnects: number;
  keepAlives: number;
  pongs: number;
  /** Device-milliseconds spent connected during the window. */
  connectedMs: number;
}

/** Adds up the time a client spends connected, from `reset()` on. */
class ConnectedTime {
  #since: number | undefined;
  #total = 0;

  constructor(client: ParleyClient) {
    client.on('state', (state) => {
      if (state === ConnectionState.Open) this.#since ??= performance.now();
      else this.#stop();
    });
  }

  reset(open: boolean): void {
    this.#total = 0;
    this.#since = open ? performance.now() : undefined;
  }

  /** The time connected since `reset()`, up to now. */
  read(): number {
    return this.#total + (this.#since === undefined ? 0 : performance.now() - this.#since);
  }

  #stop(): void {
    if (this.#since !== undefined) this.#total += performance.now() - this.#since;
    this.#since = undefined;
  }
}

/** Connects the devices, lets them sit idle for the periods, and counts what happened meanwhile. */
async function run(label: string, keepAliveMs: number): Promise<Result> {
  const clients = await Promise.all(
    Array.from({ length: devices }, async (_, index) => {
      const client = new ParleyClient({
        url: stack.url,
        token: await mintToken(`idle${label}${index}`, LOCAL_JWT_SECRET),
        deviceId: 'phone',
        WebSocket: CountingWebSocket as unknown as WebSocketConstructor,
        keepAliveMs,
        reconnect: {
          initialDelayMs: DEFAULT_BACKOFF.initialDelayMs * scale,
          maxDelayMs: DEFAULT_BACKOFF.maxDelayMs * scale,
          minUptimeMs: DEFAULT_BACKOFF.minUptimeMs * scale,
        },
      });
      const connected = new ConnectedTime(client);
      const caughtUp = new Promise((resolve) => client.on('caughtUp', resolve));
      await client.connect();
      await caughtUp;
      return { client, connected };
    }),
  );
  const before = { ...counts };
  for (const { client, connected } of clients) connected.reset(client.state === ConnectionState.Open);
  // Nothing to await here: the measurement is what happens while the devices sit idle.
  await new Promise((resolve) => setTimeout(resolve, periods * idleMs));
  const after = { ...counts };
  const connectedMs = clients.reduce((sum, { connected }) => sum + connected.read(), 0);
  await Promise.all(clients.map(({ client }) => client.close()));
  return {
    reconnects: after.connect - before.connect,
    disconnects: after.disconnect - before.disconnect,
    keepAlives: after.keepAlive - before.keepAlive,
    pongs: after.pong - before.pong,
    connectedMs,
  };
}

/**
 * Per hour of a connected device, at AWS's scale. Per connected hour rather than per hour of
 * the clock: reconnecting (a handshake, `$connect`, a catch-up) takes the local stack a good
 * fraction of a second, which does not shrink with the idle limit, while in AWS it is a
 * second or so in 10 minutes.
 */
const perConnectedHour = (count: number, connectedMs: number) => (count / (connectedMs / scale)) * HOUR_MS;

try {
  const keepAliveMs = Math.round(DEFAULT_KEEP_ALIVE_MS * scale);
  console.log(
    `\nIdle SDK devices against the local gateway (${devices} devices, ${periods} idle periods of ${idleMs} ms,` +
      ` standing for AWS's 10 minutes; keep-alive ${keepAliveMs} ms, standing for the default` +
      ` ${DEFAULT_KEEP_ALIVE_MS / 60_000} minutes)\n`,
  );
  console.log(
    'keep-alive   reconnects/device/h   $disconnects/device/h   keep-alives/device/h   pongs/device/h   time connected',
  );
  for (const [label, interval] of [
    ['off', 0],
    ['on', keepAliveMs],
  ] as const) {
    const result = await run(label, interval);
    const rate = (count: number, width: number) =>
      perConnectedHour(count, result.connectedMs).toFixed(2).padStart(width);
    const share = result.connectedMs / (devices * periods * idleMs);
    console.log(
      `${label.padEnd(10)}   ${rate(result.reconnects, 19)}   ${rate(result.disconnects, 21)}   ${rate(result.keepAlives, 20)}   ${rate(result.pongs, 14)}   ${(share * 100).toFixed(0).padStart(13)} %`,
    );
  }
  console.log(
    '\nper device per hour = count / (device-time connected ÷ the scale) × 60 min, the scale being' +
      '\nthe local idle limit ÷ 10 min. A $disconnect of a single-device user sets it offline; the' +
      '\nreconnect sets it online again.',
  );
} finally {
  await stack.stop();
}
