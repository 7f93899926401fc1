/**
 * A chaos run: a local stack of its own with every fault hook in place (the in-process
 * stack, or the deployed mode that runs the synthesized stack's bundles), users chatting in a
 * ring of one-to-one conversations from several devices each (real `ParleyClient`s), faults
 * injected for a while, then the faults stop, every app restarts and catches up, and the
 * history checker gives its verdict. `npm run chaos` runs a long one; `npm test` a short one.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeleteConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { directConversationId, membersOf } from '@parley/protocol';
import { ConnectionState } from '@parley/sdk';
import { seededRandom } from '../../bench/seeded-random.js';
import { type CompleteConfig, LOCAL_JWT_SECRET } from '../../lambdas/config.js';
import { mintToken } from '../../lambdas/domain/tokens.js';
import { createDeps, type ParleyDeps } from '../../lambdas/runtime.js';
import { startDeployedStack } from '../../local/deployed/stack.js';
import { startLocalStack } from '../../local/stack.js';
import { ChaosDevice, type RecordingDevice } from './devices.js';
import { ChaosFaults, DEFAULT_FAULT_RATES, type FaultKind, type FaultRates } from './faults.js';
import { GroupChaos, type GroupChaosOptions, poissonGapMs } from './group-chaos.js';
import { GroupDevice } from './group-devices.js';
import {
  checkHistory,
  type DeviceSnapshot,
  type HistoryVerdict,
  type ListEntry,
  type StoreSnapshot,
} from './history-checker.js';
import { SettleDeadline } from './settle-deadline.js';

export interface ChaosOptions {
  /**
   * `local`: the in-process stack, faults through its hooks. `deployed`: the synthesized
   * stack's bundles (`startDeployedStack`), faults on the wire and at the invoke.
   */
  mode: 'local' | 'deployed';
  /** For the deployed mode: the cloud assembly to run. Default `cdk.out`, synthesized when stale. */
  cloudAssemblyDir?: string;
  users: number;
  devicesPerUser: number;
  /** How long faults are injected while the users chat. */
  durationSeconds: number;
  /** Each device's pace: messages written a second, on average. */
  writesPerDeviceSecond: number;
  /** Of a device's actions, the share that marks a conversation read instead of writing. */
  readShare: number;
  seed: number;
  rates: FaultRates;
  /** Connections cut (client side, no close frame), deleted by the server, and apps restarted, per second. */
  connectionDropsPerSecond: number;
  connectionDeletesPerSecond: number;
  deviceRestartsPerSecond: number;
  /** Restart the gateway a third of the way in, and kinesis-mock two thirds of the way in. */
  restartEngines: boolean;
  /**
   * After the faults stop, how long the devices may go without coming closer to agreeing with
   * the store (fewer messages in outboxes, lost, or diverged devices and lists) before the run
   * gives up; in all, the settle lasts at most `SETTLE_LIMIT_STALLS` times as long.
   */
  settleStallSeconds: number;
  /** Users in groups only, their groups, and how often memberships change (`group-chaos.ts`); `users: 0` runs none. */
  groups: GroupChaosOptions;
  /** A running DynamoDB Local to use (the tests share one); else the run starts its own. */
  dynamodbEndpoint?: string;
  logLevel?: 'SILENT' | 'ERROR' | 'WARN';
  /** Progress lines. */
  log?: (line: string) => void;
}

export const DEFAULT_CHAOS_OPTIONS: ChaosOptions = {
  mode: 'local',
  users: 6,
  devicesPerUser: 3,
  durationSeconds: 60,
  writesPerDeviceSecond: 1,
  readShare: 0.2,
  seed: 1,
  rates: DEFAULT_FAULT_RATES,
  connectionDropsPerSecond: 1,
  connectionDeletesPerSecond: 0.5,
  deviceRestartsPerSecond: 0.2,
  restartEngines: true,
  settleStallSeconds: 60,
  groups: { users: 5, devicesPerUser: 2, groups: 2, changesPerSecond: 0.5, writesPerDeviceSecond: 0.5 },
};

export interface ChaosReport {
  options: Omit<ChaosOptions, 'log'>;
  faults: Record<FaultKind, number>;
  faultsTotal: number;
  fanoutBatches: number;
  conversations: number;
  devices: number;
  groups: number;
  membershipChanges: number;
  /** From the first write to the faults stopping, and from there to the verdict. */
  chaosMs: number;
  settleMs: number;
  /** True when every device agreed with the store before the settle gave up. */
  settled: boolean;
  verdict: HistoryVerdict;
}

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const log = options.log ?? (() => {});
  const random = seededRandom(options.seed);
  const faults = new ChaosFaults(random, options.rates);
  const kinesisDataDir = await mkdtemp(join(tmpdir(), 'parley-chaos-kinesis-'));
  const cleanup: Array<() => Promise<unknown>> = [() => rm(kinesisDataDir, { recursive: true, force: true })];
  try {
    const stack = await startChaosStack(options, faults, kinesisDataDir);
    cleanup.unshift(() => stack.stop());
    // The checker and the run's own server-side actions go through clients with no faults.
    const observer = createDeps(stack.config);
    cleanup.unshift(async () => observer.clients.destroy());

    const run = `${randomBytes(2).toString('hex')}`;
    const users = Array.from({ length: options.users }, (_, i) => `u${i}-${run}`);
    const conversationIds = ringConversations(users);
    let frames = 0;
    let onFrame = () => {};
    const devices = users.flatMap((userId) =>
      Array.from(
        { length: options.devicesPerUser },
        (_, d) =>
          new ChaosDevice({
            url: stack.url,
            userId,
            deviceId: `d${d}`,
            token: () => mintToken(userId, LOCAL_JWT_SECRET),
            random,
            onFrame: () => {
              frames++;
              onFrame();
            },
          }),
      ),
    );
    const groupChaos = new GroupChaos(
      options.groups,
      run,
      random,
      (userId, deviceId) =>
        new GroupDevice({
          url: stack.url,
          userId,
          deviceId,
          token: () => mintToken(userId, LOCAL_JWT_SECRET),
          onFrame: () => {
            frames++;
            onFrame();
          },
        }),
    );
    const everyDevice: RecordingDevice[] = [...devices, ...groupChaos.devices];
    cleanup.unshift(() => Promise.all(everyDevice.map((device) => device.close())));
    // One kind after the other, and with time to spare: on 2 busy cores the deployed mode's
    // authorizer and $connect run in workers, and 28 handshakes at once can take over 15 s.
    await Promise.all(devices.map((device) => device.start()));
    await Promise.all(devices.map((device) => untilOpen(device, 30_000)));
    for (const device of groupChaos.devices) device.start();
    await Promise.all(
      groupChaos.devices.map((device) =>
        withTimeout(device.whenOpen(), 30_000, `${device.key} did not connect within 30000 ms`),
      ),
    );
    log(
      `${everyDevice.length} devices of ${users.length + groupChaos.users.length} users online, ` +
        `${conversationIds.length} conversations, ${groupChaos.groups.length} groups`,
    );

    // ---- Chaos: the users chat while faults are injected --------------------------------------
    const startedAt = Date.now();
    const endsAt = startedAt + options.durationSeconds * 1000;
    faults.enabled = true;
    const progress = setInterval(() => {
      const written = everyDevice.reduce((sum, device) => sum + device.written.length, 0);
      log(
        `  ${((Date.now() - startedAt) / 1000).toFixed(0)} s: ${written} written, ${faults.total()} faults`,
      );
    }, 5_000);
    try {
      await Promise.all([
        ...devices.map((device) => chat(device, conversationIds, options, random, endsAt)),
        groupChaos.changeMemberships(endsAt),
        groupChaos.chat(endsAt),
        injectTimedFaults({
          stack,
          observer,
          devices: everyDevice,
          faults,
          options,
          random,
          startedAt,
          endsAt,
        }),
      ]);
    } finally {
      clearInterval(progress);
      faults.enabled = false;
    }
    const chaosMs = Date.now() - startedAt;
    log(`faults stopped after ${(chaosMs / 1000).toFixed(1)} s; every app restarts and catches up`);

    // ---- Settle: every app restarts, catches up, and must agree with the store ----------------
    const settleStartedAt = Date.now();
    await Promise.all(everyDevice.map((device) => device.restart()));
    const deadline = new SettleDeadline(
      settleStartedAt,
      options.settleStallSeconds * 1000,
      SETTLE_LIMIT_STALLS,
    );
    let settleEndsAt = settleStartedAt;
    let verdict: HistoryVerdict;
    for (;;) {
      const seenFrames = frames;
      verdict = checkHistory({
        conversationIds,
        written: everyDevice.flatMap((device) => device.written),
        sentAnswers: everyDevice.flatMap((device) => device.sentAnswers),
        received: everyDevice.flatMap((device) => device.received),
        store: await snapshotStore(
          observer,
          [...users, ...groupChaos.users],
          [...conversationIds, ...groupChaos.groupIds],
        ),
        devices: devices.map(snapshotDevice(conversationIds)),
        groups: groupChaos.history(),
      });
      settleEndsAt = deadline.look(workLeft(verdict, everyDevice), Date.now());
      if (verdict.ok || Date.now() >= settleEndsAt) break;
      // Look again once some device got a frame (or after a second: a retry may be waiting out its backoff).
      if (frames === seenFrames) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(1_000, Math.max(0, settleEndsAt - Date.now())));
          onFrame = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        onFrame = () => {};
      }
      await sleep(100); // let a burst of frames land before the next look
    }
    return {
      options: { ...options, log: undefined } as Omit<ChaosOptions, 'log'>,
      faults: { ...faults.counts },
      faultsTotal: faults.total(),
      fanoutBatches: faults.fanoutBatches,
      conversations: conversationIds.length,
      devices: everyDevice.length,
      groups: groupChaos.groups.length,
      membershipChanges: groupChaos.changes.length,
      chaosMs,
      settleMs: Date.now() - settleStartedAt,
      settled: verdict.ok,
      verdict,
    };
  } finally {
    for (const step of cleanup) await step().catch(() => undefined);
  }
}

/** The settle gives up after this many stall periods in all, even while it progresses. */
export const SETTLE_LIMIT_STALLS = 3;

/**
 * What the devices still have to do to agree with the store: messages in their outboxes or
 * not stored, and devices and lists that disagree. It only falls while the catch-up works.
 */
export function workLeft(verdict: HistoryVerdict, devices: ReadonlyArray<{ pendingCount: number }>): number {
  const pending = devices.reduce((sum, device) => sum + device.pendingCount, 0);
  return pending + verdict.lost.length + verdict.divergedDevices.length + verdict.divergedLists.length;
}

/** What a run needs of either kind of stack. */
interface ChaosStack {
  url: string;
  config: CompleteConfig;
  stop(): Promise<void>;
  restartGateway(): Promise<void>;
  restartKinesis(): Promise<void>;
}

/** A stack of the run's own, with every fault hook of its mode in place. */
async function startChaosStack(
  options: ChaosOptions,
  faults: ChaosFaults,
  kinesisDataDir: string,
): Promise<ChaosStack> {
  const common = {
    wsPort: 0,
    ...(options.dynamodbEndpoint ? { dynamodbEndpoint: options.dynamodbEndpoint } : {}),
    kinesisDataDir,
    resourcePrefix: `chaos${randomBytes(3).toString('hex')}`,
    logLevel: options.logLevel ?? 'SILENT',
  };
  if (options.mode === 'deployed') {
    return startDeployedStack({
      ...common,
      ...(options.cloudAssemblyDir ? { cloudAssemblyDir: options.cloudAssemblyDir } : {}),
      faults: faults.deployedFaults,
      ...(options.logLevel && options.logLevel !== 'SILENT'
        ? { log: (line: string) => console.error(line) }
        : {}),
    });
  }
  return startLocalStack({
    ...common,
    deps: { wrap: faults.wrapDeps },
    wrapFunction: faults.wrapFunction,
  });
}

/** Each user talks with the next one, the last with the first: every user in two conversations. */
function ringConversations(users: string[]): string[] {
  const ids = users.map((user, i) => directConversationId(user, users[(i + 1) % users.length] as string));
  return [...new Set(ids)];
}

/** One device's user: writes and reads at random until the chaos ends. */
async function chat(
  device: ChaosDevice,
  conversationIds: string[],
  options: ChaosOptions,
  random: () => number,
  endsAt: number,
): Promise<void> {
  const own = conversationIds.filter((id) => membersOf(id)?.includes(device.userId));
  let n = 0;
  for (;;) {
    const gapMs = poissonGapMs(random, options.writesPerDeviceSecond);
    if (Date.now() + gapMs >= endsAt) return;
    await sleep(gapMs);
    const conversationId = own[Math.floor(random() * own.length)] as string;
    if (random() < options.readShare) {
      await device.markRead(conversationId).catch(() => undefined);
    } else {
      n++;
      await device.write(conversationId, `${device.key} #${n}`);
    }
  }
}

interface TimedFaultContext {
  stack: ChaosStack;
  observer: ParleyDeps;
  devices: RecordingDevice[];
  faults: ChaosFaults;
  options: ChaosOptions;
  random: () => number;
  startedAt: number;
  endsAt: number;
}

/** Connection drops and deletes, app restarts, and the two engine restarts, until the chaos ends. */
async function injectTimedFaults(context: TimedFaultContext): Promise<void> {
  const { stack, options, startedAt, endsAt } = context;
  const tasks: Array<Promise<void>> = [
    poisson(context, options.connectionDropsPerSecond, async (device) => {
      if (device.dropConnection()) context.faults.record('connection-dropped');
    }),
    poisson(context, options.connectionDeletesPerSecond, async (device) => {
      const connections = await context.observer.connections.listConnections(device.userId);
      const connection = connections.find((c) => c.deviceId === device.deviceId);
      if (!connection) return;
      await context.observer.clients.connections
        .send(new DeleteConnectionCommand({ ConnectionId: connection.connectionId }))
        .then(() => context.faults.record('connection-deleted'))
        .catch(() => undefined); // already gone
    }),
    poisson(context, options.deviceRestartsPerSecond, async (device) => {
      await device.restart();
      context.faults.record('device-restarted');
    }),
  ];
  if (options.restartEngines) {
    const span = endsAt - startedAt;
    tasks.push(
      (async () => {
        await sleep(span / 3);
        await stack.restartGateway();
        context.faults.record('gateway-restarted');
        await sleep(Math.max(0, startedAt + (2 * span) / 3 - Date.now()));
        await stack.restartKinesis();
        context.faults.record('kinesis-restarted');
      })(),
    );
  }
  await Promise.all(tasks);
}

/** Calls `inject` on a random device at random times, `perSecond` on average, until the chaos ends. */
async function poisson(
  context: TimedFaultContext,
  perSecond: number,
  inject: (device: RecordingDevice) => Promise<void>,
): Promise<void> {
  if (perSecond <= 0) return;
  const { random, devices, endsAt } = context;
  for (;;) {
    const gapMs = poissonGapMs(random, perSecond);
    if (Date.now() + gapMs >= endsAt) return;
    await sleep(gapMs);
    await inject(devices[Math.floor(random() * devices.length)] as RecordingDevice);
  }
}

function withTimeout<T>(promise: Promise<T>, timeoutMs: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function untilOpen(device: ChaosDevice, timeoutMs: number): Promise<void> {
  if (device.client.state === ConnectionState.Open) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`${device.key} did not connect within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = device.client.on('state', (state) => {
      if (state !== ConnectionState.Open) return;
      clearTimeout(timer);
      off();
      resolve();
    });
  });
}

async function snapshotStore(
  deps: ParleyDeps,
  users: string[],
  conversationIds: string[],
): Promise<StoreSnapshot> {
  const conversations: StoreSnapshot['conversations'] = new Map();
  for (const conversationId of conversationIds) {
    const messages = [];
    let afterSeq = 0;
    for (;;) {
      const page = await deps.messages.listMessages(conversationId, afterSeq, 200);
      messages.push(...page.messages);
      const last = page.messages.at(-1)?.seq;
      if (last === undefined || last >= page.lastSeq) break;
      afterSeq = last;
    }
    conversations.set(conversationId, {
      messages,
      receipts: await deps.receipts.listReceipts(conversationId),
    });
  }
  const lists: StoreSnapshot['lists'] = new Map();
  for (const userId of users) {
    const entries = new Map<string, ListEntry>();
    let after = 0;
    for (;;) {
      const page = await deps.conversationList.listChangedSince(userId, after, 100);
      for (const entry of page.entries) entries.set(entry.conversationId, entry);
      if (!page.hasMore || page.entries.length === 0) break;
      after = page.entries.at(-1)?.updatedAt ?? after;
    }
    lists.set(userId, entries);
  }
  return { conversations, lists };
}

function snapshotDevice(conversationIds: string[]) {
  return (device: ChaosDevice): DeviceSnapshot => ({
    deviceKey: device.key,
    userId: device.userId,
    pending: device.pendingCount,
    conversations: device.client.conversations(),
    timelines: new Map(
      conversationIds
        .filter((id) => membersOf(id)?.includes(device.userId))
        .map((id) => [id, device.client.messages(id)]),
    ),
  });
}
