/**
 * What one reconnect costs in DynamoDB units: the authorizer's, `$connect`'s and
 * `$disconnect`'s requests on DynamoDB Local, recorded by the benchmark's probes and billed as
 * AWS bills them (`bench/dynamodb-units.ts`). The cost model prices reconnects from
 * `bench/cost-assumptions.ts` (docs/capacity.md §10, "Section 1's scale"); this holds it to
 * the handlers.
 */
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAPACITY_ASSUMPTIONS } from '../../bench/cost-assumptions.js';
import { addRequestUnits, type TableUnits } from '../../bench/dynamodb-units.js';
import { Probes } from '../../bench/probes.js';
import type { FunctionId } from '../../definitions/functions.js';
import type { RunningLocalStack } from '../../local/stack.js';
import { connectAs, startTestStack, uniqueId } from '../support/stack.js';

const RECONNECT_FUNCTIONS: readonly FunctionId[] = ['authorizer', 'connect', 'disconnect'];

const probes = new Probes();
/** Callbacks waiting for a function's next invocation to finish, by function. */
const waiting = new Map<FunctionId, Array<() => void>>();

/** Resolves when the next invocation of the function has returned (or thrown). */
function nextFinished(functionId: FunctionId): Promise<void> {
  return new Promise((resolve) => waiting.set(functionId, [...(waiting.get(functionId) ?? []), resolve]));
}

let stack: RunningLocalStack;
beforeAll(async () => {
  stack = await startTestStack({
    deps: { wrap: probes.wrapDeps },
    wrapFunction: (functionId, handler) => {
      const probed = probes.wrapFunction(functionId, handler);
      return async (event, context: Context) => {
        try {
          return await probed(event, context);
        } finally {
          for (const resolve of waiting.get(functionId)?.splice(0) ?? []) resolve();
        }
      };
    },
  });
  probes.attachDynamoDb(stack.deps.clients.dynamodb);
});
afterAll(async () => {
  await stack?.stop();
});

/** Write and read units by function of what `act` made the reconnect's functions do. */
async function unitsOf(act: () => Promise<void>): Promise<Record<string, { write: number; read: number }>> {
  probes.startPhase();
  await act();
  const phase = probes.endPhase();
  const byFunction: Record<string, { write: number; read: number }> = {};
  for (const request of phase.dynamodb) {
    if (!request.functionId || !RECONNECT_FUNCTIONS.includes(request.functionId)) continue;
    const units = new Map<string, TableUnits>();
    addRequestUnits(
      units,
      request.operation,
      request.input,
      request.consumed,
      request.itemsRead,
      undefined,
      request.foundByTable,
    );
    const sum = byFunction[request.functionId] ?? { write: 0, read: 0 };
    for (const table of units.values()) {
      sum.write += table.write;
      sum.read += table.read;
    }
    byFunction[request.functionId] = sum;
  }
  return byFunction;
}

/** The phone of `userId` drops its connection and opens a new one. */
async function reconnectPhone(userId: string, phone: Awaited<ReturnType<typeof connectAs>>) {
  let again: Awaited<ReturnType<typeof connectAs>> | undefined;
  const units = await unitsOf(async () => {
    const disconnected = nextFinished('disconnect');
    await phone.close();
    await disconnected;
    again = await connectAs(stack, userId, 'phone');
  });
  return { units, again };
}

const total = (units: Record<string, { write: number; read: number }>) =>
  Object.values(units).reduce(
    (sum, { write, read }) => ({ write: sum.write + write, read: sum.read + read }),
    { write: 0, read: 0 },
  );

/**
 * Reconnects the phone of a user who has no other device connected, then of a user whose
 * laptop stays connected: the two cases section 1 weighs half and half.
 */
async function reconnectBothCases() {
  const alone = uniqueId('alone');
  const paired = uniqueId('paired');
  const lonePhone = await connectAs(stack, alone, 'phone');
  const pairedPhone = await connectAs(stack, paired, 'phone');
  const laptop = await connectAs(stack, paired, 'laptop');
  const first = await reconnectPhone(alone, lonePhone);
  const second = await reconnectPhone(paired, pairedPhone);
  await Promise.all([first.again?.close(), second.again?.close(), laptop.close()]);
  return { alone: first.units, paired: second.units };
}

describe('what a reconnect costs in DynamoDB', () => {
  it('costs 8 WRU and 5 RRU when the device was the user’s only one, and 7 WRU and 5 RRU when another stays', async () => {
    const { alone, paired } = await reconnectBothCases();

    // $connect: rate counter 1 WRU, the cap's consistent Query 1 RRU and its transaction of
    // two items 4 WRU, the groups' consistent Query 1 RRU, presence marked online 1 WRU.
    expect(alone.connect).toEqual({ write: 6, read: 2 });
    // $disconnect: the delete 1 WRU; the groups' Query, presence and the user's connections,
    // consistent, 3 RRU; presence marked offline only when no device is left, 1 WRU.
    expect(alone.disconnect).toEqual({ write: 2, read: 3 });
    expect(paired.disconnect).toEqual({ write: 1, read: 3 });
    expect(alone.authorizer).toBeUndefined();
    expect(total(alone)).toEqual({ write: 8, read: 5 });
    expect(total(paired)).toEqual({ write: 7, read: 5 });
  });

  it('is what the cost model prices: the two cases averaged, the other device connected half the time', async () => {
    const { alone, paired } = await reconnectBothCases();

    const { writeUnits, readUnits } = CAPACITY_ASSUMPTIONS.reconnect;
    expect((total(alone).write + total(paired).write) / 2).toBe(writeUnits);
    expect((total(alone).read + total(paired).read) / 2).toBe(readUnits);
  });
});
