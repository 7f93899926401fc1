import { describe, expect, it } from 'vitest';
import { parseSettings, SettingsError } from '../../lib/settings.js';

const settingsOf = (context: Record<string, unknown>) =>
  parseSettings((key) => (key in context ? context[key] : key === 'stage' ? 'dev' : undefined));

describe('the deployment settings', () => {
  it('default to a generated token key, on-demand shards, 200 ms latency alarm and no account stack', () => {
    expect(settingsOf({})).toEqual({
      stage: 'dev',
      tokenKey: { kind: 'generated' },
      shards: { kind: 'on-demand' },
      throttle: { rateLimit: 5_000, burstLimit: 2_500 },
      sendThrottle: { rateLimit: 1_000, burstLimit: 500 },
      deliveryLatencyP99AlarmMs: 200,
      accountLogsRole: false,
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
    [{ accountLogsRole: 'yes' }, /^Invalid context accountLogsRole/],
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
