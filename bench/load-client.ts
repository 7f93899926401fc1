/**
 * The load generator, run as a child process of `bench/run.ts`: holds every device's
 * WebSocket, sends at a fixed rate from random senders to their fixed peer, and timestamps
 * every answer and every delivery as it arrives. Speaks the protocol's `send` frame, so the
 * same code drives Parley and the plain relay (the floor). One-to-one sends ask for no echo,
 * as the SDK's do; the group phase's sends keep the echo, so that its posts per connected
 * device stay comparable with earlier runs.
 */

import { DEFAULT_ACK_WINDOW_MS } from '@parley/sdk';
import WebSocket from 'ws';
import { now, sleep } from './clock.js';
import type { DeviceSpec, LoadCommand, LoadReply, RunResult, SentMessage } from './load-protocol.js';
import { seededRandom } from './seeded-random.js';

interface RunState {
  messages: SentMessage[];
  indexOf: Map<string, number>;
  receives: Array<[number, number, number]>;
  seen: Set<number>;
  echoes: number;
  duplicates: number;
  pendingReceives: number;
  pendingAnswers: number;
  /** Whether recipients ack, and the acks sent and not yet answered. */
  acks: boolean;
  pendingAcks: number;
}

const emptyRunState = (): RunState => ({
  acks: false,
  pendingAcks: 0,
  messages: [],
  indexOf: new Map(),
  receives: [],
  seen: new Set(),
  echoes: 0,
  duplicates: 0,
  pendingReceives: 0,
  pendingAnswers: 0,
});

function resultOf(tag: string, rate: number, state: RunState): RunResult {
  return {
    tag,
    rate,
    messages: state.messages,
    receives: state.receives,
    echoes: state.echoes,
    duplicates: state.duplicates,
    missingReceives: state.pendingReceives,
    missingAnswers: state.pendingAnswers,
    drainedAt: now(),
  };
}

let devices: DeviceSpec[] = [];
let sockets: WebSocket[] = [];
/** Device indexes of each user, and the users in pair order (2k and 2k+1 talk to each other). */
let devicesOf = new Map<string, number[]>();
let users: string[] = [];
let current: RunState | undefined;

function reply(message: LoadReply): void {
  process.send?.(message);
}

function onFrame(deviceIndex: number, data: WebSocket.RawData): void {
  const arrivedAt = now();
  const run = current;
  if (!run) return;
  const text = data.toString();
  if (text.includes('"type":"message"')) {
    const frame = JSON.parse(text) as { clientMessageId?: string; conversationId?: string; seq?: number };
    const index = run.indexOf.get(frame.clientMessageId ?? '');
    if (index === undefined) return;
    const message = run.messages[index] as SentMessage;
    if (message.fromDevice === deviceIndex) {
      run.echoes++;
      return;
    }
    const key = index * devices.length + deviceIndex;
    if (run.seen.has(key)) {
      run.duplicates++;
      return;
    }
    run.seen.add(key);
    run.receives.push([index, deviceIndex, arrivedAt]);
    run.pendingReceives--;
    if (run.acks && devicesOf.get(message.to)?.[0] === deviceIndex) ackDelivered(run, deviceIndex, frame);
    return;
  }
  if (run.acks && text.includes('"type":"receipt"')) {
    const receipt = JSON.parse(text) as {
      userId?: string;
      conversationId?: string;
      kind?: string;
      seq?: number;
    };
    if (receipt.userId === devices[deviceIndex]?.userId) onOwnReceipt(run, deviceIndex, receipt);
    return;
  }
  if (!text.includes('"requestId"')) return;
  const frame = JSON.parse(text) as { type?: string; requestId?: string; code?: string };
  const index = run.indexOf.get(frame.requestId ?? '');
  if (index === undefined) return;
  const message = run.messages[index] as SentMessage;
  if (message.answeredAt !== undefined) return;
  message.answeredAt = arrivedAt;
  if (frame.type !== 'sent') message.error = frame.code ?? frame.type ?? 'unknown';
  run.pendingAnswers--;
}

/**
 * As the SDK does (protocol 1.2): `delivered` once its ack window has gathered the burst,
 * with no `requestId`, so no `acked` answer; the device's own `receipt` event confirms it.
 */
const DELIVERED_AFTER_MS = DEFAULT_ACK_WINDOW_MS;
/**
 * ...and `read` when the user has looked, here a second after `delivered` was confirmed:
 * sooner, the events of a message would reach the fanout in one batch more often than
 * people reading make them.
 */
const READ_AFTER_MS = 1000;

/** An ack sent and not yet confirmed by the acking device's own `receipt` event. */
interface PendingAck {
  deviceIndex: number;
  conversationId: string;
  seq: number;
  kind: 'delivered' | 'read';
}

const pendingAcks = new Set<PendingAck>();

/** The recipient's device has the message: `delivered` shortly, `read` a second after that is confirmed. */
function ackDelivered(run: RunState, deviceIndex: number, frame: { conversationId?: string; seq?: number }) {
  const { conversationId, seq } = frame;
  if (conversationId === undefined || seq === undefined) return;
  run.pendingAcks += 2;
  setTimeout(
    () => sendAck(deviceIndex, { deviceIndex, conversationId, seq, kind: 'delivered' }),
    DELIVERED_AFTER_MS,
  );
}

function sendAck(deviceIndex: number, ack: PendingAck): void {
  pendingAcks.add(ack);
  const { conversationId, seq, kind } = ack;
  sockets[deviceIndex]?.send(JSON.stringify({ action: 'ack', conversationId, seq, kind }));
}

/** The acking device's own receipt: every ack of that kind it covers is confirmed. */
function onOwnReceipt(
  run: RunState,
  deviceIndex: number,
  frame: { conversationId?: string; kind?: string; seq?: number },
) {
  for (const ack of [...pendingAcks]) {
    if (ack.deviceIndex !== deviceIndex || ack.conversationId !== frame.conversationId) continue;
    if (ack.kind !== frame.kind || ack.seq > (frame.seq ?? 0)) continue;
    pendingAcks.delete(ack);
    run.pendingAcks--;
    if (ack.kind === 'delivered') {
      setTimeout(() => sendAck(deviceIndex, { ...ack, kind: 'read' }), READ_AFTER_MS);
    }
  }
}

function open(url: string, device: DeviceSpec, index: number): Promise<WebSocket> {
  const target = new URL(url);
  for (const [key, value] of Object.entries(device.query)) target.searchParams.set(key, value);
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(target, { perMessageDeflate: false });
    socket.once('open', () => {
      socket.on('message', (data) => onFrame(index, data));
      resolve(socket);
    });
    socket.once('unexpected-response', (_request, response) => {
      socket.terminate();
      reject(new Error(`${device.userId}/${device.deviceId}: upgrade refused with ${response.statusCode}`));
    });
    socket.once('error', reject);
  });
}

async function connect(url: string, specs: DeviceSpec[], concurrency: number): Promise<void> {
  devices = specs;
  sockets = new Array<WebSocket>(specs.length);
  devicesOf = new Map();
  for (const [index, device] of specs.entries()) {
    devicesOf.set(device.userId, [...(devicesOf.get(device.userId) ?? []), index]);
  }
  users = [...devicesOf.keys()];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < specs.length) {
        const index = next++;
        sockets[index] = await open(url, specs[index] as DeviceSpec, index);
      }
    }),
  );
}

async function disconnect(): Promise<void> {
  await Promise.all(
    sockets.map(
      (socket) =>
        new Promise<void>((resolve) => {
          if (socket.readyState === WebSocket.CLOSED) return resolve();
          const timer = setTimeout(() => {
            socket.terminate();
            resolve();
          }, 2000);
          socket.once('close', () => {
            clearTimeout(timer);
            resolve();
          });
          socket.close();
        }),
    ),
  );
  sockets = [];
}

async function run(command: Extract<LoadCommand, { kind: 'run' }>): Promise<RunResult> {
  const pairs = Math.floor(users.length / 2);
  const random = seededRandom(command.seed);
  const count = Math.max(1, Math.round((command.rate * command.durationMs) / 1000));
  const interval = 1000 / command.rate;
  const body = 'x'.repeat(command.bodyChars);
  const state = emptyRunState();
  state.acks = command.acks ?? false;
  // The whole plan first, so that choosing costs nothing while sending.
  const plan: Array<{ from: string; to: string; fromDevice: number; pair: number }> = [];
  for (let i = 0; i < count; i++) {
    const pair = command.coverAllPairs && i < pairs ? i : Math.floor(random() * pairs);
    const forward = random() < 0.5;
    const from = users[2 * pair + (forward ? 0 : 1)] as string;
    const to = users[2 * pair + (forward ? 1 : 0)] as string;
    const senderDevices = devicesOf.get(from) as number[];
    const fromDevice = senderDevices[Math.floor(random() * senderDevices.length)] as number;
    plan.push({ from, to, fromDevice, pair });
  }
  current = state;
  const start = now() + 20;
  for (const [i, step] of plan.entries()) {
    const due = start + i * interval;
    const wait = due - now();
    if (wait >= 1) await sleep(wait);
    else if (i % 8 === 0) await new Promise((resolve) => setImmediate(resolve));
    const clientMessageId = `${command.tag}-${i}`;
    const receivers = (devicesOf.get(step.from)?.length ?? 0) - 1 + (devicesOf.get(step.to)?.length ?? 0);
    const message: SentMessage = {
      clientMessageId,
      pair: step.pair,
      from: step.from,
      to: step.to,
      fromDevice: step.fromDevice,
      due,
      sentAt: 0,
    };
    state.indexOf.set(clientMessageId, state.messages.length);
    state.messages.push(message);
    state.pendingReceives += receivers;
    state.pendingAnswers++;
    const frame = JSON.stringify({
      action: 'send',
      requestId: clientMessageId,
      to: step.to,
      clientMessageId,
      body,
      // As the SDK sends (protocol 1.5): the `sent` answer is the sending device's copy, so
      // the cost phase counts the posts a message costs with today's client.
      echo: false,
    });
    message.sentAt = now();
    (sockets[step.fromDevice] as WebSocket).send(frame);
  }
  const lastSend = now();
  while (
    (state.pendingReceives > 0 || state.pendingAnswers > 0 || state.pendingAcks > 0) &&
    now() - lastSend < command.drainTimeoutMs
  ) {
    await sleep(5);
  }
  current = undefined;
  return resultOf(command.tag, command.rate, state);
}

/**
 * Messages into one group, one at a time from a random device of a random member: each
 * goes once every other device of every member has the one before (or the wait ended),
 * so that its latency is its own, not the queue's.
 */
async function groupRun(command: Extract<LoadCommand, { kind: 'groupRun' }>): Promise<RunResult> {
  const random = seededRandom(command.seed);
  const body = 'x'.repeat(command.bodyChars);
  const receivers =
    command.members.reduce((total, userId) => total + (devicesOf.get(userId)?.length ?? 0), 0) - 1;
  const state = emptyRunState();
  current = state;
  for (let i = 0; i < command.messages; i++) {
    const from = command.members[Math.floor(random() * command.members.length)] as string;
    const senderDevices = devicesOf.get(from) ?? [];
    const fromDevice = senderDevices[Math.floor(random() * senderDevices.length)];
    if (fromDevice === undefined) throw new Error(`${from} has no connected device`);
    const clientMessageId = `${command.tag}-${i}`;
    const sentAt = now();
    state.indexOf.set(clientMessageId, state.messages.length);
    state.messages.push({
      clientMessageId,
      pair: 0,
      from,
      to: command.conversationId,
      fromDevice,
      due: sentAt,
      sentAt,
    });
    state.pendingReceives += receivers;
    state.pendingAnswers++;
    (sockets[fromDevice] as WebSocket).send(
      JSON.stringify({
        action: 'send',
        requestId: clientMessageId,
        conversationId: command.conversationId,
        clientMessageId,
        body,
      }),
    );
    const deadline = sentAt + command.deliveryTimeoutMs;
    while ((state.pendingReceives > 0 || state.pendingAnswers > 0) && now() < deadline) await sleep(2);
  }
  current = undefined;
  return resultOf(command.tag, 0, state);
}

process.on('message', (command: LoadCommand) => {
  const handle = async (): Promise<LoadReply> => {
    switch (command.kind) {
      case 'connect': {
        const started = now();
        await connect(command.url, command.devices, command.concurrency);
        return { kind: 'connected', devices: sockets.length, ms: now() - started };
      }
      case 'run':
        return { kind: 'ran', result: await run(command) };
      case 'groupRun':
        return { kind: 'ran', result: await groupRun(command) };
      case 'disconnect':
        await disconnect();
        return { kind: 'disconnected' };
    }
  };
  handle().then(reply, (error: unknown) =>
    reply({ kind: 'failed', message: error instanceof Error ? error.message : String(error) }),
  );
});
// The benchmark's process went away: so does its load generator.
process.on('disconnect', () => process.exit(0));
