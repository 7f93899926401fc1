/**
 * The faults `npm run chaos` injects into a running local stack. Each one goes in through
 * a hook the stack offers, so the handlers under test are the very code that runs in AWS:
 * in the in-process stack, adapter wrappers, the function wrapper and an AWS SDK
 * middleware; in the deployed mode, where the functions run from their bundles, answers
 * on the wire (DynamoDB and Kinesis) and a wrapper of the Lambda invoke. Every fault
 * injected is counted by kind, so a run can show that it really happened.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Message } from '@parley/protocol';
import type { KinesisStreamEvent } from 'aws-lambda';
import { FAST_PATH_BUDGET_MS, type FastPathDeps, startFastPath } from '../../lambdas/domain/fast-path.js';
import type { StreamEvent } from '../../lambdas/domain/ports.js';
import type { FastPath } from '../../lambdas/domain/sequencing.js';
import { fastPathDeps, type ParleyDeps } from '../../lambdas/runtime.js';
import type { DynamoDbFault, DynamoDbRequest } from '../../local/deployed/dynamodb-front.js';
import type { KinesisFault, KinesisRequest } from '../../local/deployed/kinesis-front.js';
import type { DeployedStackFaults, InvokeWrapper } from '../../local/deployed/stack.js';
import type { FunctionWrapper } from '../../local/stack.js';

export const FAULT_KINDS = {
  'connection-dropped': 'a device lost its connection (socket cut, no close frame)',
  'connection-deleted': 'the server closed a connection (DELETE @connections)',
  'device-restarted': 'an app restarted from what it had stored',
  'fanout-failed-before': 'a fanout batch failed before posting anything',
  'fanout-failed-after': 'a fanout batch failed after posting and updating the lists',
  'publish-failed': 'Kinesis PutRecord failed after the DynamoDB commit',
  'publish-answer-lost': 'Kinesis PutRecord succeeded but its answer was lost',
  'dynamodb-throttled': 'DynamoDB refused a request (ProvisionedThroughputExceededException)',
  'dynamodb-answer-lost': 'a DynamoDB write was applied but its answer was lost (timeout)',
  'gateway-restarted': 'the WebSocket gateway restarted, closing every connection',
  'kinesis-restarted': 'kinesis-mock restarted: puts and reads failed while it was down',
  'fast-path-post-failed': "a post of send's fast path failed",
  'fast-path-post-hung': "a post of send's fast path hung past its bound, and landed later",
  'send-died-before-posts': 'the send function died after the commit, before its fast path posts',
  'send-died-after-posts': 'the send function died after its fast path posts, before the publish',
} as const;

export type FaultKind = keyof typeof FAULT_KINDS;

/**
 * The faults injected into `send`'s fast path, through the in-process stack's deps: the
 * deployed mode runs the functions from their bundles, out of reach of that hook (its
 * fast path runs, without these faults).
 */
export const IN_PROCESS_ONLY_FAULTS: readonly FaultKind[] = [
  'fast-path-post-failed',
  'fast-path-post-hung',
  'send-died-before-posts',
  'send-died-after-posts',
];

/** How long a hung fast path post holds before it goes through: well past the fast path's bound. */
const HUNG_POST_MS = 4 * FAST_PATH_BUDGET_MS;

/** Probabilities, each per call of what it names. */
export interface FaultRates {
  /** Per fanout batch, split evenly between failing before and after the work. */
  fanoutFailure: number;
  /** Per PutRecord. */
  publishFailure: number;
  publishAnswerLost: number;
  /** Per DynamoDB request attempt (the SDK's own retries see each one). */
  dynamodbThrottle: number;
  /** Per DynamoDB write attempt. */
  dynamodbAnswerLost: number;
  /** Per post of send's fast path, each. */
  fastPathPostFailure: number;
  fastPathPostHang: number;
  /** Per send that stored a message, split evenly between dying before and after its fast path posts. */
  sendDeath: number;
}

export const DEFAULT_FAULT_RATES: FaultRates = {
  fanoutFailure: 0.2,
  publishFailure: 0.05,
  publishAnswerLost: 0.03,
  dynamodbThrottle: 0.05,
  dynamodbAnswerLost: 0.02,
  fastPathPostFailure: 0.05,
  fastPathPostHang: 0.02,
  sendDeath: 0.04,
};

const DYNAMODB_WRITES = new Set([
  'PutCommand',
  'UpdateCommand',
  'DeleteCommand',
  'TransactWriteCommand',
  'BatchWriteCommand',
  'PutItemCommand',
  'UpdateItemCommand',
  'DeleteItemCommand',
  'TransactWriteItemsCommand',
  'BatchWriteItemCommand',
]);

/** The same writes as DynamoDB operations on the wire (`X-Amz-Target`). */
const DYNAMODB_WIRE_WRITES = new Set([
  'PutItem',
  'UpdateItem',
  'DeleteItem',
  'TransactWriteItems',
  'BatchWriteItem',
]);

const KINESIS_PUTS = new Set(['PutRecord', 'PutRecords']);

class InjectedFault extends Error {
  constructor(message: string, name = 'InjectedFault', extra: Record<string, unknown> = {}) {
    super(`injected: ${message}`);
    this.name = name;
    Object.assign(this, extra);
  }
}

export class ChaosFaults {
  readonly counts: Record<FaultKind, number> = Object.fromEntries(
    Object.keys(FAULT_KINDS).map((kind) => [kind, 0]),
  ) as Record<FaultKind, number>;
  /** Random faults fire only while enabled; the stack starts and settles without them. */
  enabled = false;
  /** Fanout invocations while enabled, failed or not: what `fanout-failed-*` is a share of. */
  fanoutBatches = 0;
  readonly #random: () => number;
  readonly #rates: FaultRates;

  constructor(random: () => number, rates: FaultRates = DEFAULT_FAULT_RATES) {
    this.#random = random;
    this.#rates = rates;
  }

  /** Counts a fault the run injected itself (a restart, a dropped connection). */
  record(kind: FaultKind): void {
    this.counts[kind]++;
  }

  total(): number {
    return Object.values(this.counts).reduce((sum, count) => sum + count, 0);
  }

  #roll(kind: FaultKind, rate: number): boolean {
    if (!this.enabled || this.#random() >= rate) return false;
    this.counts[kind]++;
    return true;
  }

  /** For `deps.wrap`: Kinesis puts that fail after the commit, and DynamoDB faults on the stack's client. */
  readonly wrapDeps = (deps: ParleyDeps): ParleyDeps => {
    this.#installDynamoDbFaults(deps.clients.dynamodb);
    const publisher = deps.publisher;
    const wrapped: ParleyDeps = {
      ...deps,
      publisher: {
        publish: async (event: StreamEvent) => {
          if (this.#roll('publish-failed', this.#rates.publishFailure)) {
            throw new InjectedFault('PutRecord failed', 'InternalFailure');
          }
          await publisher.publish(event);
          if (this.#roll('publish-answer-lost', this.#rates.publishAnswerLost)) {
            throw new InjectedFault('the PutRecord answer was lost', 'TimeoutError');
          }
        },
      },
    };
    return {
      ...wrapped,
      sequencing: {
        ...wrapped.sequencing,
        startFastPath: (conversationId) => {
          const post = startFastPath(this.#faultyFastPathDeps(wrapped), conversationId);
          return (message) => this.#postFirst(message, post);
        },
      },
    };
  };

  /**
   * Send's fast path, as the stack runs it, with its posts failing or hanging, and the send
   * function dying (an error out of the send, which the client retries) after the commit,
   * before or after the posts: in both cases the message is stored and not yet published.
   */
  async #postFirst(message: Message, post: FastPath): Promise<string[]> {
    const half = this.#rates.sendDeath / 2;
    if (this.#roll('send-died-before-posts', half)) {
      throw new InjectedFault(`send died after committing seq ${message.seq}, before its posts`);
    }
    const reached = await post(message);
    if (this.#roll('send-died-after-posts', half)) {
      throw new InjectedFault(`send died after posting seq ${message.seq}, before the publish`);
    }
    return reached;
  }

  /** The stack's fast path, its posts failing or hanging now and then. */
  #faultyFastPathDeps(deps: ParleyDeps): FastPathDeps {
    const pusher = deps.pusher;
    return {
      ...fastPathDeps(deps),
      pusher: {
        post: async (connectionId, frame) => {
          if (this.#roll('fast-path-post-failed', this.#rates.fastPathPostFailure)) {
            throw new InjectedFault('the fast path post failed', 'InternalServerErrorException');
          }
          if (this.#roll('fast-path-post-hung', this.#rates.fastPathPostHang)) await delay(HUNG_POST_MS);
          return pusher.post(connectionId, frame);
        },
        disconnect: (connectionId) => pusher.disconnect(connectionId),
      },
    };
  }

  /** For `wrapFunction`: fanout batches that fail whole, before or after doing their work. */
  readonly wrapFunction: FunctionWrapper = (functionId, handler) => {
    if (functionId !== 'fanout') return handler;
    return (event, context) => this.#fanoutBatch(event, () => handler(event, context));
  };

  /**
   * For the deployed mode (`startDeployedStack`'s `faults`): the same faults, where AWS's
   * own arrive. DynamoDB throttles and lost write answers, and Kinesis put failures and lost
   * answers, come on the wire, so the bundles' SDK clients retry them with backoff as in
   * AWS; fanout batches fail at the invoke.
   */
  readonly deployedFaults: DeployedStackFaults = {
    dynamodb: (request: DynamoDbRequest): DynamoDbFault => {
      if (this.#roll('dynamodb-throttled', this.#rates.dynamodbThrottle)) return 'throttle';
      if (
        DYNAMODB_WIRE_WRITES.has(request.target) &&
        this.#roll('dynamodb-answer-lost', this.#rates.dynamodbAnswerLost)
      ) {
        return 'lose-answer';
      }
      return undefined;
    },
    kinesis: (request: KinesisRequest): KinesisFault => {
      if (!KINESIS_PUTS.has(request.target)) return undefined;
      if (this.#roll('publish-failed', this.#rates.publishFailure)) return 'fail';
      if (this.#roll('publish-answer-lost', this.#rates.publishAnswerLost)) return 'lose-answer';
      return undefined;
    },
    wrapInvoke: ((functionId, invoke) => {
      if (functionId !== 'fanout') return invoke;
      return (event) => this.#fanoutBatch(event, () => invoke(event));
    }) satisfies InvokeWrapper,
  };

  /** One fanout batch: fails whole, before or after doing its work, or runs as it is. */
  async #fanoutBatch<Result>(event: unknown, run: () => Promise<Result>): Promise<Result> {
    const records = (event as KinesisStreamEvent).Records?.length ?? 0;
    if (this.enabled) this.fanoutBatches++;
    const half = this.#rates.fanoutFailure / 2;
    if (this.#roll('fanout-failed-before', half)) {
      throw new InjectedFault(`fanout failed before handling ${records} record(s)`);
    }
    const result = await run();
    if (this.#roll('fanout-failed-after', half)) {
      throw new InjectedFault(`fanout failed after handling ${records} record(s)`);
    }
    return result;
  }

  /**
   * Inside the SDK's retry loop (finalizeRequest, after the retry middleware), as a real
   * throttle or timeout would arrive: the SDK retries it with backoff, and only when every
   * attempt fails does the handler see the error.
   */
  #installDynamoDbFaults(client: DynamoDBDocumentClient): void {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (this.#roll('dynamodb-throttled', this.#rates.dynamodbThrottle)) {
          throw new InjectedFault('throughput exceeded', 'ProvisionedThroughputExceededException', {
            $fault: 'client',
            $metadata: { httpStatusCode: 400 },
          });
        }
        const result = await next(args);
        if (
          DYNAMODB_WRITES.has(context.commandName ?? '') &&
          this.#roll('dynamodb-answer-lost', this.#rates.dynamodbAnswerLost)
        ) {
          throw new InjectedFault(`the ${context.commandName} answer was lost`, 'TimeoutError', {
            $metadata: {},
          });
        }
        return result;
      },
      { step: 'finalizeRequest', priority: 'low', name: 'chaosFaults' },
    );
  }
}
