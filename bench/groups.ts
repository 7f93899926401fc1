/**
 * The group phase of the benchmark (`npm run bench -- --groups`): one group of each size
 * (8, 256 and 1,024 members by default), every member with two connected devices; messages
 * go into each group one at a time on a quiet stack, and each is timed from its send until
 * the last device of the group has it. Per message: the `@connections` posts against the
 * connected devices, DynamoDB units, invocations, and what it would cost on AWS.
 */
import type { FunctionId } from '../definitions/functions.js';
import { LOCAL_JWT_SECRET } from '../lambdas/config.js';
import { mintToken } from '../lambdas/domain/tokens.js';
import type { RunningLocalStack } from '../local/stack.js';
import { analyzeServer, type PerMessage } from './analysis.js';
import { type CostEstimate, estimateCost } from './cost.js';
import { cpuBetween, cpuSnapshot } from './cpu.js';
import { FrameClient } from './frame-client.js';
import type { LoadGenerator } from './load-generator.js';
import type { DeviceSpec, RunResult } from './load-protocol.js';
import type { PhaseRecord, Probes } from './probes.js';
import { type Distribution, distribution } from './stats.js';

/** The figures of one group size. */
export interface GroupFigures {
  members: number;
  /** Connected devices of its members (the sender's included): what one message is posted to. */
  devices: number;
  messages: number;
  /** Send → the moment the last device of the group has the message, per message (complete ones). */
  lastDevice: Distribution;
  /** Send → arrival, per device and message (the sending device's own copy left out). */
  delivery: Distribution;
  /** Deliveries still missing when the wait for a message ended, duplicates, and sends answered with an error. */
  missing: number;
  duplicates: number;
  errors: number;
  /** `message` posts per message, and their ratio to the connected devices (1 is one post per device). */
  postsPerMessage: number;
  postsPerDevice: number;
  /** DynamoDB units per message as AWS bills them, over every table, and invocations per message. */
  readUnits: number;
  writeUnits: number;
  fanoutInvocations: number;
  perMessage: PerMessage;
  cost: CostEstimate;
  /** `cost.usdPerMillion` divided by the members: the price of reaching one member. */
  usdPerMillionPerMember: number;
}

/** What the group phase needs of the run: a stack with probes, the load generator and its settings. */
export interface GroupPhaseContext {
  stack: RunningLocalStack;
  probes: Probes;
  load: LoadGenerator;
  tableIdOf: ReadonlyMap<string, string>;
  sizes: number[];
  messages: number;
  bodyChars: number;
  seed: number;
  log: (line: string) => void;
}

const DEVICES_PER_MEMBER = ['phone', 'laptop'];
/** A message whose devices do not all have it by then is counted as missing deliveries. */
const DELIVERY_TIMEOUT_MS = 30_000;
/** Messages sent into each group before measuring: the first warm the caches and the JIT. */
const WARM_UP_MESSAGES = 2;

/** The posts of `message` frames: a phase may hold other posts (a receipt), which are not the message's. */
function messagePosts(phase: PhaseRecord): number {
  return phase.posts.filter((post) => post.frame.includes('"type":"message"')).length;
}

/**
 * The figures of one group size from what the load generator saw of its messages and what
 * the probes recorded meanwhile. Pure, so that its own tests can hold it to known inputs.
 */
export function analyzeGroup(
  members: number,
  devices: number,
  results: RunResult[],
  perMessage: PerMessage,
  postsPerMessage: number,
): GroupFigures {
  const lastDevice: number[] = [];
  const delivery: number[] = [];
  let missing = 0;
  let duplicates = 0;
  let errors = 0;
  let messages = 0;
  for (const result of results) {
    missing += result.missingReceives;
    duplicates += result.duplicates;
    messages += result.messages.length;
    errors += result.messages.filter((message) => message.error !== undefined).length;
    const latest = new Map<number, number>();
    const count = new Map<number, number>();
    for (const [index, , arrivedAt] of result.receives) {
      const sentAt = result.messages[index]?.sentAt ?? arrivedAt;
      delivery.push(arrivedAt - sentAt);
      latest.set(index, Math.max(latest.get(index) ?? 0, arrivedAt - sentAt));
      count.set(index, (count.get(index) ?? 0) + 1);
    }
    for (const [index, ms] of latest) if (count.get(index) === devices - 1) lastDevice.push(ms);
  }
  const sum = (pick: (units: PerMessage['dynamodb'][string]) => number) =>
    Object.values(perMessage.dynamodb).reduce((total, units) => total + pick(units), 0);
  const fanoutInvocations = (Object.entries(perMessage.invocations) as Array<[FunctionId, number]>)
    .filter(([functionId]) => functionId.includes('fanout'))
    .reduce((total, [, count]) => total + count, 0);
  const cost = estimateCost(perMessage, { allIn: false });
  return {
    members,
    devices,
    messages,
    lastDevice: distribution(lastDevice),
    delivery: distribution(delivery),
    missing,
    duplicates,
    errors,
    postsPerMessage,
    postsPerDevice: postsPerMessage / devices,
    readUnits: sum((units) => units.read),
    writeUnits: sum((units) => units.write),
    fanoutInvocations,
    perMessage,
    cost,
    usdPerMillionPerMember: cost.usdPerMillion / members,
  };
}

/** The members `m0000`… and a group of the first `size` of them for each size, made by `m0000`. */
async function createGroups(context: GroupPhaseContext, users: string[], tag: string): Promise<string[]> {
  const { stack, sizes } = context;
  const admin = await FrameClient.connect(stack.url, {
    token: await mintToken(users[0] as string, stack.config.tokens.secret ?? LOCAL_JWT_SECRET),
    deviceId: 'admin',
  });
  try {
    const ids: string[] = [];
    for (const size of sizes) {
      const conversationId = `grp:bench-${tag}-${size}`;
      const answer = await admin.request(
        { action: 'createGroup', conversationId, title: `${size} members`, members: users.slice(1, size) },
        60_000,
      );
      if (answer.type !== 'groupChanged') {
        throw new Error(`groups: createGroup of ${size} members answered ${JSON.stringify(answer)}`);
      }
      ids.push(conversationId);
    }
    return ids;
  } finally {
    await admin.close();
  }
}

/** Sends `count` messages into the group one at a time, the stack settling after each. */
async function sendEach(
  context: GroupPhaseContext,
  conversationId: string,
  members: string[],
  tag: string,
  count: number,
): Promise<RunResult[]> {
  const results: RunResult[] = [];
  for (let i = 0; i < count; i++) {
    results.push(
      await context.load.groupRun({
        tag: `${tag}-${i}`,
        conversationId,
        members,
        messages: 1,
        seed: context.seed + i,
        bodyChars: context.bodyChars,
        deliveryTimeoutMs: DELIVERY_TIMEOUT_MS,
      }),
    );
    if (!(await context.probes.settle())) context.log('· the stack did not settle after a group message');
  }
  return results;
}

/** Runs the group phase on a stack of its own: creates the groups, connects every device, measures each size. */
export async function measureGroups(context: GroupPhaseContext): Promise<GroupFigures[]> {
  const { stack, probes, load, sizes, log } = context;
  const largest = Math.max(...sizes);
  const users = Array.from({ length: largest }, (_, i) => `m${String(i).padStart(4, '0')}`);
  const tag = Date.now().toString(36);
  const groupIds = await createGroups(context, users, tag);
  await probes.settle();
  log(`· ${sizes.length} groups created (${sizes.join(', ')} members)`);

  const secret = stack.config.tokens.secret ?? LOCAL_JWT_SECRET;
  const tokens = await Promise.all(users.map((userId) => mintToken(userId, secret)));
  const devices: DeviceSpec[] = users.flatMap((userId, index) =>
    DEVICES_PER_MEMBER.map((deviceId) => ({
      userId,
      deviceId,
      query: { token: tokens[index] as string, deviceId },
    })),
  );
  const connectMs = await load.connect(stack.url, devices, 16);
  await probes.settle();
  log(`· ${devices.length} devices connected in ${(connectMs / 1000).toFixed(1)} s`);

  const figures: GroupFigures[] = [];
  for (const [index, size] of sizes.entries()) {
    const conversationId = groupIds[index] as string;
    const members = users.slice(0, size);
    await sendEach(context, conversationId, members, `gw${size}`, WARM_UP_MESSAGES);
    probes.startPhase();
    const before = cpuSnapshot();
    const results = await sendEach(context, conversationId, members, `g${size}`, context.messages);
    const cpu = cpuBetween(before, cpuSnapshot());
    const phase = probes.endPhase();
    const server = analyzeServer(phase, context.messages, context.tableIdOf, cpu, cpu.wallMs);
    const row = analyzeGroup(
      size,
      size * DEVICES_PER_MEMBER.length,
      results,
      server.perMessage,
      messagePosts(phase) / context.messages,
    );
    figures.push(row);
    log(
      `· group of ${size}: last device p50 ${row.lastDevice.p50.toFixed(0)} p99 ${row.lastDevice.p99.toFixed(0)} ms, ` +
        `${row.postsPerMessage.toFixed(1)} posts for ${row.devices} devices, ${row.missing} deliveries missing`,
    );
  }
  await load.disconnect();
  await probes.settle();
  return figures;
}
