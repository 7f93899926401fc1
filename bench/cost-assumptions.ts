/**
 * What the benchmark cannot measure and the cost model takes from docs/capacity.md §1
 * instead: each message's share of the connections held open all day, their keep-alives,
 * pongs and reconnects, how long a warm function runs in AWS (the local wall time is
 * DynamoDB Local's and kinesis-mock's, not AWS's), and how long storage is paid for.
 * Change §1 and these together.
 */
import {
  DEFAULT_LAMBDA_SYSTEM_LOG_LEVEL,
  type FunctionId,
  type LambdaSystemLogLevel,
} from '../definitions/functions.js';

export interface CostAssumptions {
  /** 10⁹ connections × 1,440 minutes a day ÷ 20 × 10⁹ messages a day. */
  connectionMinutesPerMessage: number;
  /**
   * 10⁹ connections × 6.0 keep-alives an hour × 24 ÷ 20 × 10⁹ messages: the SDK sends one
   * (`keepalive` or `ping`) after 8 minutes without a frame either way
   * (docs/adr/0009-keep-alive.md). A connection sees its user's 80 messages a day (3.33 an
   * hour, each a burst of frames) and sends one in every 8 minutes of each silence:
   * `keepAlivesPerHour(3.33, 8 min)`.
   */
  keepAlivesPerMessage: number;
  /**
   * 10⁹ connections × 2.33 pongs an hour × 24 ÷ 20 × 10⁹ messages: only a `ping` is answered,
   * and the SDK pings at every second keep-alive of a silence, so once in every 16 minutes
   * of it: `keepAlivesPerHour(3.33, 16 min)`.
   */
  pongsPerMessage: number;
  /** 10⁹ connections × 12 renewals a day × 2 for churn ÷ 20 × 10⁹ messages. */
  reconnectsPerMessage: number;
  /** What one reconnect costs beyond its frames: the functions it invokes and their DynamoDB units. */
  reconnect: { functions: FunctionId[]; writeUnits: number; readUnits: number };
  /** Warm duration of one invocation in AWS, ms; functions not named take `otherDurationMs`. */
  warmDurationMs: Partial<Record<FunctionId, number>>;
  otherDurationMs: number;
  /** Months a stored message (and its idempotency item) is paid for in the price of a message. */
  storageMonths: number;
  /** The log groups' retention (`RetentionDays.ONE_MONTH` in lib/constructs). */
  logRetentionMonths: number;
  /** On-demand streams held all day (one per cell, docs/capacity.md §8) and the messages a day they carry. */
  streams: number;
  messagesPerDay: number;
  /** Shards an on-demand stream of a cell grows to (docs/capacity.md §5 and §8: ~17 at a 70 % target). */
  shardsPerStream: number;
  /** Bytes a frame costs on the wire beyond its text: the WebSocket header and a TLS record's overhead. */
  frameOverheadBytes: number;
  /** The push work for devices not connected (docs/capacity.md §10, "Push"); no push line without it. */
  push?: PushAssumptions;
  /**
   * The level of Lambda's own log records the stack deploys (`-c lambdaSystemLogLevel`): at
   * INFO and DEBUG each invocation writes a START and a REPORT record, at WARN neither.
   */
  lambdaSystemLogLevel: LambdaSystemLogLevel;
  /**
   * Whose month AWS's volume tiers count: the payer accounts the cells bill to (with
   * consolidated billing, an organisation's member accounts count as its payer's), and the
   * Regions the cells are spread over, for a tier counted per Region.
   */
  billing: { payerAccounts: number; regions: number; daysPerMonth: number };
}

/**
 * What the push-notifier does per device of a recipient that is registered and not connected
 * when a message arrives; its reads of the stream, its invocations and its Query of each
 * recipient's registrations are measured with the rest (docs/capacity.md §10, "Push").
 */
export interface PushAssumptions {
  /** Registered devices not connected when a message arrives, per message. */
  offlineDevicesPerMessage: number;
  /** The share of them a coalescing window holds back (the device had a push of the conversation within it). */
  coalescedShare: number;
  /** The share of pushes sent that go through SNS (APNs, FCM); the rest are Web Push. */
  mobileShare: number;
  /** Bytes of one Web Push request out to a browser's push service: the encrypted payload and the VAPID headers. */
  webPushBytes: number;
  /** Time the notifier's invocation waits on one push service or SNS answer, ms (at the notifier's memory). */
  waitPerPushMs: number;
}

export const CAPACITY_ASSUMPTIONS: CostAssumptions = {
  connectionMinutesPerMessage: (1e9 * 1440) / 20e9,
  keepAlivesPerMessage: (1e9 * 6.0 * 24) / 20e9,
  pongsPerMessage: (1e9 * 2.33 * 24) / 20e9,
  reconnectsPerMessage: (1e9 * 12 * 2) / 20e9,
  // Counted from lambdas/handlers/connect.ts and disconnect.ts for a user in no group whose
  // other device is connected half the time (docs/capacity.md §10, "Reconnects re-counted"),
  // and held to them by test/integration/reconnect-cost.test.ts.
  // $connect: the handshake's rate counter 1 WRU; the cap's strongly consistent Query of the
  // user's connections 1 RRU and its transaction (connection put, version update) 2 × 2 WRU;
  // the group index's consistent Query 1 RRU; presence marked online 1 WRU.
  // $disconnect: connection delete 1 WRU; the group index's Query 1 RRU; presence read
  // (consistent) 1 RRU; the user's connections (consistent Query) 1 RRU; presence marked
  // offline when no device is left, half the time, 0.5 WRU. The authorizer reads no table.
  reconnect: { functions: ['authorizer', 'connect', 'disconnect'], writeUnits: 7.5, readUnits: 5 },
  warmDurationMs: { send: 35, ack: 25, fanout: 60, 'presence-notifier': 20 },
  otherDurationMs: 20,
  storageMonths: 12,
  logRetentionMonths: 1,
  streams: 200,
  messagesPerDay: 20e9,
  shardsPerStream: 17,
  // 2 to 4 bytes of WebSocket header from the server (unmasked), and 29 of a TLS 1.2/1.3
  // AES-GCM record (5 header, 8 nonce, 16 tag) when each frame goes out in a record of its own.
  frameOverheadBytes: 4 + 29,
  push: {
    // Section 1's recipient has 2 devices; a quarter of the time one of them is away from the
    // screen with its app's socket closed and a registration: 0.5 a message. An assumption.
    offlineDevicesPerMessage: 0.5,
    // Half of a conversation's messages come within 5 s of the one before (a burst). An assumption.
    coalescedShare: 0.5,
    // Most devices are phones (APNs or FCM through SNS); the rest are browsers. An assumption.
    mobileShare: 0.8,
    // ~150 bytes of payload + 103 of aes128gcm overhead, ~600 of VAPID Authorization and
    // Crypto-Key headers, ~300 of HTTP/TLS framing and the answer: an assumption (**unverified**).
    webPushBytes: 1200,
    // Pushes of a batch go out in parallel; 20 ms of each one's wait is billed. An assumption.
    waitPerPushMs: 20,
  },
  lambdaSystemLogLevel: DEFAULT_LAMBDA_SYSTEM_LOG_LEVEL,
  // One payer account for all 200 cells (section 8: an organisation's accounts under
  // consolidated billing), spread over 10 Regions; a month of 365 / 12 days.
  billing: { payerAccounts: 1, regions: 10, daysPerMonth: 365 / 12 },
};

/**
 * The lines CloudWatch Logs receives that the local stack does not write, as AWS documents
 * their shape; the model prices their length. A Lambda function with `loggingFormat: JSON`
 * (lib/constructs/functions.ts) writes a `platform.start` and a `platform.report` record per
 * invocation; an access log line per frame or connection event has the fields of
 * `ACCESS_LOG_FIELDS` (lib/constructs/api.ts).
 */
export const LOG_LINE_EXAMPLES = {
  platformStart:
    '{"time":"2026-12-05T00:20:00.000Z","type":"platform.start","record":{"requestId":"6d68ca91-49c9-448d-89b8-7ca3e6dc66aa","version":"$LATEST"}}',
  platformReport:
    '{"time":"2026-12-05T00:20:00.036Z","type":"platform.report","record":{"requestId":"6d68ca91-49c9-448d-89b8-7ca3e6dc66aa","metrics":{"durationMs":35.12,"billedDurationMs":36,"memorySizeMB":1024,"maxMemoryUsedMB":96},"status":"success"}}',
  accessLog:
    '{"requestId":"Yk3rXGsmIAMF8Wg=","connectionId":"Yk3rWf9WoAMCJ9g=","eventType":"MESSAGE","routeKey":"send","status":"200","requestTime":"1733358000000","sourceIp":"203.0.113.10","userId":"u000","integrationLatency":"35","error":"-","authorizerError":"-","integrationError":"-"}',
} as const;

/**
 * Frames an hour a connection sends at every `intervalHours` of each silence between bursts
 * of a Poisson stream of `burstsPerHour`: a silence S holds ⌊S/T⌋ of them, whose mean over
 * an exponential S is e^{−λT}/(1−e^{−λT}), and an hour has λ silences. docs/capacity.md §1.
 *
 * @example
 * keepAlivesPerHour(80 / 24, 8 / 60); // 5.96, the keep-alives of §1
 */
export function keepAlivesPerHour(burstsPerHour: number, intervalHours: number): number {
  const stillSilent = Math.exp(-burstsPerHour * intervalHours);
  return (burstsPerHour * stillSilent) / (1 - stillSilent);
}

/** The `pong` answer to a keep-alive ping, as it goes to the client (the SDK's request ids are `{deviceId}-{n}`). */
export const PONG_FRAME = '{"type":"pong","requestId":"phone-42"}';
