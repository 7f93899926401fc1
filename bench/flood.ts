/**
 * `npm run bench -- --flood`: a pair's message latency on the local stack, first alone, then
 * while one user floods `send` and `typing` from several connections (issue #15). Prints the
 * pair's p50 and p99 in both phases and whether its p99 under the flood stays within twice
 * its unloaded p99, and writes bench/results/flood.json and flood.md. The stack runs the
 * per-user limits of `PARLEY_RATE_LIMITS` over the defaults (definitions/rate-limits.ts), as
 * `npm start` does: on one small machine the flooder's admitted frames share the CPU and
 * DynamoDB Local with the pair, where in AWS they run on instances of their own, so a run
 * here may scale the limits down to what the machine serves (docs/benchmark.md).
 */
import { randomUUID } from 'node:crypto';
import { directConversationId } from '@parley/protocol';
import type { RateLimits } from '../definitions/rate-limits.js';
import { LOCAL_JWT_SECRET } from '../lambdas/config.js';
import { mintToken } from '../lambdas/domain/tokens.js';
import { type RunningLocalStack, startLocalStack } from '../local/stack.js';
import { now, sleep } from './clock.js';
import { FrameClient } from './frame-client.js';
import { describeMachine } from './machine.js';
import { writeTablesAndJson } from './outputs.js';
import { machineLine, renderText, type Table } from './report.js';
import type { BenchResults, Machine } from './results-model.js';
import type { BenchSettings } from './settings.js';
import { type Distribution, distribution } from './stats.js';

/** The target: under the flood, the pair's p99 at most twice its unloaded p99. */
export const FLOOD_P99_FACTOR = 2;
const PAIR_RATE = 10;
const PAIR_SECONDS = 20;
const FLOOD_CONNECTIONS = 4;
/** Frames a second each flooding connection offers, half `send`, half `typing`. */
const FLOOD_FRAMES_PER_CONNECTION = 40;

export interface FloodCounts {
  offered: number;
  sent: number;
  refused: number;
}

export interface FloodResults {
  date: string;
  durationSeconds: number;
  machine: Machine;
  settings: {
    pairRate: number;
    pairSeconds: number;
    floodConnections: number;
    floodFramesPerSecond: number;
    limits: RateLimits;
  };
  unloaded: Distribution;
  flooded: Distribution;
  flood: { send: FloodCounts; typing: FloodCounts };
}

const ms = (value: number) => (Number.isFinite(value) ? value.toFixed(1) : '–');

export function floodTables(results: FloodResults): Table[] {
  const { unloaded, flooded, flood } = results;
  const limit = results.settings.limits;
  const ratio = flooded.p99 / unloaded.p99;
  return [
    {
      title: `A pair's messages, send to delivery at the other's device, ${PAIR_RATE} msg/s for ${PAIR_SECONDS} s`,
      headers: ['phase', 'messages', 'p50 ms', 'p99 ms', 'max ms'],
      rows: [
        ['unloaded', String(unloaded.count), ms(unloaded.p50), ms(unloaded.p99), ms(unloaded.max)],
        [
          `one user flooding from ${results.settings.floodConnections} connections`,
          String(flooded.count),
          ms(flooded.p50),
          ms(flooded.p99),
          ms(flooded.max),
        ],
      ],
    },
    {
      title: 'The flood, answered by the per-user limits',
      headers: ['route', 'limit', 'offered', 'accepted', 'rate_limited'],
      rows: (['send', 'typing'] as const).map((route) => [
        route,
        `${limit[route].perSecond}/s, ${limit[route].perWindow}/10 s`,
        String(flood[route].offered),
        route === 'typing'
          ? `${flood.typing.offered - flood.typing.refused} (no answer)`
          : String(flood.send.sent),
        String(flood[route].refused),
      ]),
    },
    {
      title: 'Target (issue #15)',
      headers: ['target', 'wanted', 'measured', ''],
      rows: [
        [
          "the pair's p99 under the flood",
          `≤ ${FLOOD_P99_FACTOR} × unloaded p99`,
          `${ms(flooded.p99)} ms = ${Number.isFinite(ratio) ? ratio.toFixed(2) : '–'} × ${ms(unloaded.p99)} ms`,
          ratio <= FLOOD_P99_FACTOR ? 'met' : 'not met',
        ],
      ],
    },
  ];
}

async function connectAs(stack: RunningLocalStack, userId: string, deviceId: string): Promise<FrameClient> {
  return FrameClient.connect(stack.url, { token: await mintToken(userId, LOCAL_JWT_SECRET), deviceId });
}

/**
 * Alice and bob take turns, at most `PAIR_RATE` messages a second, each message sent once
 * the last one arrived (two senders racing for a seq would measure the race, not the
 * flood). A latency is from the first try of a send to its arrival at the other's device.
 */
async function measurePair(stack: RunningLocalStack, tag: string): Promise<Distribution> {
  const [alice, bob] = [`alice-${tag}`, `bob-${tag}`];
  const devices = [await connectAs(stack, alice, 'phone'), await connectAs(stack, bob, 'phone')] as const;
  const conversationId = directConversationId(alice, bob);
  const latencies: number[] = [];
  const start = now();
  try {
    for (let index = 0; index < PAIR_RATE * PAIR_SECONDS; index += 1) {
      await sleep(Math.max(0, start + (index * 1000) / PAIR_RATE - now()));
      const [from, to] = index % 2 === 0 ? devices : [devices[1], devices[0]];
      const clientMessageId = `${tag}-${index}`;
      const arrival = to.next(
        (frame) => frame.type === 'message' && frame.clientMessageId === clientMessageId,
        30_000,
      );
      const sentAt = now();
      await sendUntilAnswered(from, {
        action: 'send',
        conversationId,
        clientMessageId,
        body: 'x'.repeat(100),
      });
      await arrival;
      latencies.push(now() - sentAt);
    }
  } finally {
    await Promise.all(devices.map((device) => device.close()));
  }
  return distribution(latencies);
}

/** Sends until answered `sent`, retrying what a client retries (docs/protocol.md): `internal` and `rate_limited`. */
async function sendUntilAnswered(device: FrameClient, frame: Record<string, unknown>): Promise<void> {
  for (let attempt = 0; attempt < 10; attempt += 1) {
    const answer = await device.request(frame, 30_000);
    if (answer.type === 'sent') return;
    await sleep(100 * 2 ** attempt);
  }
  throw new Error(`the send of ${String(frame.clientMessageId)} was never answered sent`);
}

/** One user offering send and typing frames from several connections until `stop` resolves. */
async function floodUntil(stack: RunningLocalStack, stop: Promise<void>): Promise<FloodResults['flood']> {
  const mallory = 'mallory';
  const devices = [];
  for (let index = 0; index < FLOOD_CONNECTIONS; index += 1)
    devices.push(await connectAs(stack, mallory, `d${index}`));
  // To many recipients, as a spammer would: one conversation would measure its seq race instead.
  const conversationIdOf = (index: number) => directConversationId(mallory, `carol${index % 50}`);
  const counts = { send: { offered: 0, sent: 0, refused: 0 }, typing: { offered: 0, sent: 0, refused: 0 } };
  let stopped = false;
  void stop.then(() => {
    stopped = true;
  });
  const tickMs = 20;
  const perTick = (FLOOD_FRAMES_PER_CONNECTION * tickMs) / 1000 / 2;
  const start = now();
  for (let tick = 0; !stopped; tick += 1) {
    await sleep(Math.max(0, start + tick * tickMs - now()));
    for (const device of devices) {
      for (let index = 0; index < perTick; index += 1) {
        const conversationId = conversationIdOf(counts.send.offered);
        const send = {
          action: 'send',
          requestId: randomUUID(),
          conversationId,
          clientMessageId: randomUUID(),
          body: 'flood',
        };
        device.sendRaw(JSON.stringify(send));
        device.sendRaw(
          JSON.stringify({ action: 'typing', requestId: randomUUID(), conversationId, state: 'start' }),
        );
        counts.send.offered += 1;
        counts.typing.offered += 1;
      }
    }
  }
  // The last answers arrive after the last frames: give them a moment, then count.
  await sleep(2000);
  for (const device of devices) {
    for (const frame of device.received) {
      if (frame.type === 'sent') counts.send.sent += 1;
      if (frame.type === 'error' && frame.code === 'rate_limited') {
        counts[String(frame.message).includes('typing') ? 'typing' : 'send'].refused += 1;
      }
    }
  }
  await Promise.all(devices.map((device) => device.close()));
  return counts;
}

/** Starts a stack with engines of its own, measures both phases, prints and writes the results, stops it all. */
export async function runFloodBenchmark(settings: BenchSettings, log: (line: string) => void): Promise<void> {
  const startedAt = now();
  const machine = describeMachine();
  log(
    `\nParley flood benchmark: a pair at ${PAIR_RATE} msg/s, alone and while one user floods send and typing ` +
      `from ${FLOOD_CONNECTIONS} connections at ${FLOOD_FRAMES_PER_CONNECTION} frames/s each`,
  );
  log(`machine: ${machineLine({ machine } as BenchResults)}\n`);
  const stack = await startLocalStack({ wsPort: 0, logLevel: 'SILENT' });
  const limits = stack.config.rateLimits as RateLimits;
  const onSignal = (signal: NodeJS.Signals) => {
    log(`\n${signal}: stopping`);
    void stack.stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  let results: FloodResults;
  try {
    const unloaded = await measurePair(stack, 'unloaded');
    let endFlood = () => {};
    const stop = new Promise<void>((resolve) => {
      endFlood = resolve;
    });
    const flooding = floodUntil(stack, stop);
    // Let the flood reach its rate before measuring under it.
    await sleep(1000);
    const flooded = await measurePair(stack, 'flooded');
    endFlood();
    const flood = await flooding;
    results = {
      date: new Date().toISOString(),
      durationSeconds: (now() - startedAt) / 1000,
      machine,
      settings: {
        pairRate: PAIR_RATE,
        pairSeconds: PAIR_SECONDS,
        floodConnections: FLOOD_CONNECTIONS,
        floodFramesPerSecond: FLOOD_FRAMES_PER_CONNECTION * FLOOD_CONNECTIONS,
        limits,
      },
      unloaded,
      flooded,
      flood,
    };
  } finally {
    await stack.stop();
  }
  log('');
  for (const table of floodTables(results)) log(`${renderText(table)}\n`);
  const written = writeTablesAndJson(settings.resultsDir, 'flood', results, floodTables(results));
  log(`wrote ${written.join(', ')} (${results.durationSeconds.toFixed(0)} s in all)`);
}
