import { describe, expect, it } from 'vitest';
import {
  DEFAULT_SEND_THROTTLE,
  DEFAULT_STAGE_THROTTLE,
  parseSettings,
  SettingsError,
} from '../../lib/settings.js';

const settingsOf = (context: Record<string, unknown>) =>
  parseSettings((key) => (key in context ? context[key] : key === 'stage' ? 'dev' : undefined));

describe('the deployment settings', () => {
  it('default to a generated token key, on-demand shards, 200 ms latency alarm and no account stack', () => {
    expect(settingsOf({})).toEqual({
      stage: 'dev',
      tokenKey: { kind: 'generated' },
      shards: { kind: 'on-demand' },
      dynamodbCapacity: { kind: 'on-demand' },
      throttle: { rateLimit: 1_300, burstLimit: 650 },
      sendThrottle: { rateLimit: 350, burstLimit: 175 },
      deliveryLatencyP99AlarmMs: 200,
      fastPathMaxConnections: 16,
      maxConnectionsPerUser: 10,
      accountLogsRole: false,
      maxTokenAgeSeconds: 86_400,
      allowedOrigins: [],
      lambdaSystemLogLevel: 'WARN',
    });
  });

  it('take the level of Lambda’s own log records, and refuse another with a message naming the setting', () => {
    expect(settingsOf({ lambdaSystemLogLevel: 'INFO' }).lambdaSystemLogLevel).toBe('INFO');
    expect(settingsOf({ lambdaSystemLogLevel: 'DEBUG' }).lambdaSystemLogLevel).toBe('DEBUG');
    expect(() => settingsOf({ lambdaSystemLogLevel: 'ERROR' })).toThrow(SettingsError);
    expect(() => settingsOf({ lambdaSystemLogLevel: 'info' })).toThrow(
      /^Invalid context lambdaSystemLogLevel: .*; it takes `DEBUG`, `INFO` or `WARN`/,
    );
  });

  it('take a maximum token age and the browser origins a handshake may come from', () => {
    expect(
      settingsOf({
        maxTokenAgeSeconds: '3600',
        allowedOrigins: 'https://app.example.com, http://localhost:5173',
      }),
    ).toMatchObject({
      maxTokenAgeSeconds: 3600,
      allowedOrigins: ['https://app.example.com', 'http://localhost:5173'],
    });
  });

  it('read strings from -c and JSON values from cdk.json alike', () => {
    const fromCli = settingsOf({ shards: '4', throttleRate: '100', accountLogsRole: 'true' });
    const fromJson = settingsOf({ shards: 4, throttleRate: 100, accountLogsRole: true });
    expect(fromCli).toEqual(fromJson);
    expect(fromCli).toMatchObject({
      shards: { kind: 'provisioned', shardCount: 4 },
      throttle: { rateLimit: 100 },
      accountLogsRole: true,
    });
  });

  it('take provisioned DynamoDB capacity, with default bounds and target, or those given', () => {
    expect(settingsOf({ dynamodbCapacity: 'provisioned' }).dynamodbCapacity).toEqual({
      kind: 'provisioned',
      minCapacity: 5,
      maxCapacity: 10_000,
      targetUtilizationPercent: 70,
    });
    expect(
      settingsOf({
        dynamodbCapacity: 'provisioned',
        dynamodbMinCapacity: '20',
        dynamodbMaxCapacity: 2_000,
        dynamodbTargetUtilization: '50',
      }).dynamodbCapacity,
    ).toEqual({ kind: 'provisioned', minCapacity: 20, maxCapacity: 2_000, targetUtilizationPercent: 50 });
  });

  it('take a throttle of its own for send, at most the stage’s', () => {
    expect(settingsOf({ sendThrottleRate: '200', sendThrottleBurst: 50 })).toMatchObject({
      sendThrottle: { rateLimit: 200, burstLimit: 50 },
    });
    expect(settingsOf({ throttleRate: 5_000, sendThrottleRate: 5_000 }).sendThrottle.rateLimit).toBe(5_000);
  });

  it('keep the default send throttle within a stage throttled below it', () => {
    expect(settingsOf({ throttleRate: 50, throttleBurst: 10 })).toMatchObject({
      throttle: { rateLimit: 50, burstLimit: 10 },
      sendThrottle: { rateLimit: 50, burstLimit: 10 },
    });
  });

  it('take a JWKS URL, or an existing secret, with issuer and audience', () => {
    expect(
      settingsOf({
        jwksUrl: 'https://id.example.com/jwks',
        jwtIssuer: 'https://id.example.com/',
        jwtAudience: 'parley',
      }),
    ).toMatchObject({
      tokenKey: { kind: 'jwks', jwksUrl: 'https://id.example.com/jwks' },
      jwtIssuer: 'https://id.example.com/',
      jwtAudience: 'parley',
    });
    const secretArn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:parley/jwt-AbC123';
    expect(settingsOf({ jwtSecretArn: secretArn })).toMatchObject({
      tokenKey: { kind: 'secret', secretArn },
    });
  });

  it.each([
    [{ jwksUrl: 'http://id.example.com/jwks' }, /^Invalid context jwksUrl: .*the https URL/],
    [
      { jwksUrl: 'https://id.example.com/jwks', jwtAudience: 'parley' },
      /^Invalid context jwtIssuer: is required with jwksUrl; it takes the `iss` every token must carry/,
    ],
    [
      { jwksUrl: 'https://id.example.com/jwks', jwtIssuer: 'https://id.example.com/' },
      /^Invalid context jwtAudience: is required with jwksUrl; it takes the `aud` every token must carry/,
    ],
    [{ maxTokenAgeSeconds: 59 }, /^Invalid context maxTokenAgeSeconds: .*seconds a token may live/],
    [{ maxTokenAgeSeconds: 2_592_001 }, /^Invalid context maxTokenAgeSeconds/],
    [{ allowedOrigins: 'app.example.com' }, /^Invalid context allowedOrigins: must be origins/],
    [{ allowedOrigins: 'https://app.example.com/chat' }, /^Invalid context allowedOrigins: must be origins/],
    [
      {
        jwksUrl: 'https://id.example.com/jwks',
        jwtSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:k-AbC123',
      },
      /^Invalid context jwtSecretArn: give jwksUrl or jwtSecretArn, not both/,
    ],
    [
      { jwtSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:k' },
      /^Invalid context jwtSecretArn: must be the complete ARN/,
    ],
    [{ shards: 'lots' }, /^Invalid context shards: .*`on-demand` or a number/],
    [{ shards: 0 }, /^Invalid context shards/],
    [{ alarmEmail: 'oncall' }, /^Invalid context alarmEmail: .*an e-mail address/],
    [{ throttleRate: -1 }, /^Invalid context throttleRate/],
    [{ sendThrottleRate: 0 }, /^Invalid context sendThrottleRate: .*at most throttleRate\)/],
    [
      { throttleRate: 100, sendThrottleRate: 101 },
      /^Invalid context sendThrottleRate: must be at most throttleRate, the whole stage’s rate/,
    ],
    [
      { sendThrottleBurst: 2_501 },
      /^Invalid context sendThrottleBurst: must be at most throttleBurst, the whole stage’s burst/,
    ],
    [{ deliveryLatencyP99AlarmMs: 5 }, /^Invalid context deliveryLatencyP99AlarmMs/],
    [{ fastPathMaxConnections: -1 }, /^Invalid context fastPathMaxConnections/],
    [{ maxConnectionsPerUser: 0 }, /^Invalid context maxConnectionsPerUser/],
    [{ messageRetentionDays: 0 }, /^Invalid context messageRetentionDays: .*days a message is kept/],
    [{ accountLogsRole: 'yes' }, /^Invalid context accountLogsRole/],
    [{ dynamodbCapacity: 'autoscaled' }, /^Invalid context dynamodbCapacity: .*`on-demand` or `provisioned`/],
    [{ dynamodbMinCapacity: 0 }, /^Invalid context dynamodbMinCapacity: .*the fewest read and write units/],
    [{ dynamodbMaxCapacity: 40_001 }, /^Invalid context dynamodbMaxCapacity: .*\(1 to 40000/],
    [
      { dynamodbMinCapacity: 100, dynamodbMaxCapacity: 50 },
      /^Invalid context dynamodbMaxCapacity: must be at least dynamodbMinCapacity/,
    ],
    [{ dynamodbTargetUtilization: 95 }, /^Invalid context dynamodbTargetUtilization: .*\(20 to 90\)/],
    [{ dynamodbTargetUtilization: 19 }, /^Invalid context dynamodbTargetUtilization/],
  ])('refuse %j with an error naming the setting and what it takes', (context, message) => {
    expect(() => settingsOf(context)).toThrow(SettingsError);
    expect(() => settingsOf(context)).toThrow(message);
  });

  it.each(['Prod', 'dev_1', '1dev', '-dev', '', 'a'.repeat(22)])('refuse the stage %j', (stage) => {
    expect(() => settingsOf({ stage })).toThrow(
      /^Invalid stage .*: a stage is a lowercase letter followed by up to 20 lowercase letters, digits or hyphens/,
    );
  });

  it('accept a lowercase stage of up to 21 characters', () => {
    expect(settingsOf({ stage: `a${'-1'.repeat(10)}` }).stage).toBe('a-1-1-1-1-1-1-1-1-1-1');
  });
});

/**
 * A fresh account's quotas and what one message costs, from docs/capacity.md ("What one
 * message costs, from the code" and "Default throttles on a fresh account", with sources).
 */
const FRESH_ACCOUNT = {
  /** API Gateway, per account and Region, shared by every API and every `@connections` post. */
  apiRequestsPerSecond: 10_000,
  apiBurst: 5_000,
  /** A new on-demand stream's write capacity: 4 MB/s or 4,000 records a second. */
  streamRecordsPerSecond: 4_000,
  /** Lambda concurrent executions per account and Region (the documented default). */
  lambdaConcurrency: 1_000,
} as const;
const PER_MESSAGE = {
  /** The send and the two acks. */
  framesIn: 3,
  /**
   * 3 frames in, their 3 answers (whether answers count is unverified: counted), 16 posts: the
   * count of protocol 1.0, kept as the bound. Today a message makes fewer: 1 answer (`sent`;
   * acks go unanswered since 1.2) and 12 posts, 11 from a 1.5 client (docs/capacity.md §12).
   */
  apiRequests: 3 + 3 + 16,
  /** message, delivered, read, delivered again: 1.0's count, kept as the bound (3 since issue 14). */
  streamRecords: 4,
} as const;
/** The share of the account's API Gateway quota that messages may take: the rest is for pings, connects, typing and other APIs. */
const MESSAGE_SHARE = 0.8;
/** The share of a new stream's records that messages may take: conversations hash unevenly onto its shards, and presence changes share it. */
const STREAM_SHARE = 0.5;

describe('the default throttles on a fresh account', () => {
  const { throttle: stage, sendThrottle: send } = settingsOf({});

  it('are the documented defaults', () => {
    expect(stage).toEqual(DEFAULT_STAGE_THROTTLE);
    expect(send).toEqual(DEFAULT_SEND_THROTTLE);
  });

  it('let messages at the send rate take at most their share of the account’s API Gateway requests', () => {
    expect(send.rateLimit * PER_MESSAGE.apiRequests).toBeLessThanOrEqual(
      MESSAGE_SHARE * FRESH_ACCOUNT.apiRequestsPerSecond,
    );
    expect(send.burstLimit * PER_MESSAGE.apiRequests).toBeLessThanOrEqual(
      MESSAGE_SHARE * FRESH_ACCOUNT.apiBurst,
    );
  });

  it('keep the account under its quota even if every frame the stage admits belonged to a message', () => {
    const requestsPerFrame = PER_MESSAGE.apiRequests / PER_MESSAGE.framesIn;
    expect(stage.rateLimit * requestsPerFrame).toBeLessThanOrEqual(FRESH_ACCOUNT.apiRequestsPerSecond);
    expect(stage.burstLimit * requestsPerFrame).toBeLessThanOrEqual(FRESH_ACCOUNT.apiBurst);
  });

  it('leave the stage room for the acks of every message the send route admits', () => {
    expect(stage.rateLimit).toBeGreaterThanOrEqual(PER_MESSAGE.framesIn * send.rateLimit);
    expect(stage.burstLimit).toBeGreaterThanOrEqual(PER_MESSAGE.framesIn * send.burstLimit);
  });

  it('write at most half of a new on-demand stream’s records', () => {
    expect(send.rateLimit * PER_MESSAGE.streamRecords).toBeLessThanOrEqual(
      STREAM_SHARE * FRESH_ACCOUNT.streamRecordsPerSecond,
    );
  });

  it('need a small part of the account’s Lambda concurrency', () => {
    // Durations and the fanout's ceiling (4 starting shards × parallelization factor 10) from docs/capacity.md.
    const otherFrames = stage.rateLimit - PER_MESSAGE.framesIn * send.rateLimit;
    const concurrency = send.rateLimit * 0.035 + 2 * send.rateLimit * 0.025 + otherFrames * 0.035 + 4 * 10;
    expect(concurrency).toBeLessThanOrEqual(0.1 * FRESH_ACCOUNT.lambdaConcurrency);
  });
});
