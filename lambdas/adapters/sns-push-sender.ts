/**
 * Pushes to iOS and Android apps through Amazon SNS mobile push: one platform endpoint per
 * APNs or FCM device token, made on the first push and kept on the registration, then a
 * Publish with the platform's own payload. Sources, read 2026-12-05:
 * - "Setting up an Amazon SNS platform endpoint for mobile notifications" (its pseudo code:
 *   create, and on "already exists with the same Token, but different attributes" get the
 *   endpoint's attributes and re-enable it or create it again),
 *   https://docs.aws.amazon.com/sns/latest/dg/mobile-platform-endpoint.html
 * - "Amazon SNS message attributes", reserved attributes for mobile push (APNs collapse id,
 *   push type, priority, TTL), https://docs.aws.amazon.com/sns/latest/dg/sns-message-attributes.html
 *   and https://docs.aws.amazon.com/sns/latest/dg/sns-ttl.html
 *   (That page also says message attributes are sent only with a String message structure;
 *   that the reserved mobile attributes still apply to a `json` one is **unverified**, so the
 *   FCM TTL and collapse key are in the payload as well.)
 * - "Using Google Firebase Cloud Messaging v1 payloads in Amazon SNS" (`fcmV1Message` under
 *   the `GCM` key), https://docs.aws.amazon.com/sns/latest/dg/sns-fcm-v1-payloads.html
 * - the Publish, CreatePlatformEndpoint and DeleteEndpoint API references (their errors).
 */

import { setTimeout as sleep } from 'node:timers/promises';
import {
  CreatePlatformEndpointCommand,
  DeleteEndpointCommand,
  GetEndpointAttributesCommand,
  type MessageAttributeValue,
  PublishCommand,
  SetEndpointAttributesCommand,
  type SNSClient,
} from '@aws-sdk/client-sns';
import type { PushPayload } from '@parley/protocol';
import { type BackoffDeps, type BackoffPolicy, waitBeforeRetry } from '../domain/backoff.js';
import type { PushOutcome, PushRegistration, PushSender, PushSendOptions } from '../domain/ports.js';

export interface SnsPushSenderOptions {
  /** Best made with `maxAttempts: 1`: this sender retries throttling itself, within its own bound. */
  sns: SNSClient;
  apnsPlatformApplicationArn?: string;
  fcmPlatformApplicationArn?: string;
  /**
   * Keeps the endpoint made for a registration, so that the next push publishes at once: the
   * notifier wires it to `PushRegistrationStore.setPlatformEndpoint`.
   */
  keepEndpoint: (registration: PushRegistration, endpointArn: string) => Promise<void>;
  /** The notification's title; its body is the payload's `text`. Default "Parley". */
  title?: string;
  /** Attempts of one call when SNS throttles or fails on its side. Default 3. */
  maxAttempts?: number;
  /** The waits between attempts (full-jitter backoff); tests pass ones that do not wait. */
  backoff?: BackoffDeps;
}

/** The first retry waits up to 100 ms, each next one up to twice as long, never over a second. */
const RETRY_POLICY: BackoffPolicy = { baseDelayMs: 100, maxDelayMs: 1_000 };
const SYSTEM_BACKOFF: BackoffDeps = { random: Math.random, sleep: (ms) => sleep(ms) };

/** SNS answers these when it, or KMS behind it, is overloaded or failing: worth another try. */
const RETRIED_ERRORS = new Set(['ThrottledException', 'KMSThrottlingException', 'InternalErrorException']);
/** The endpoint no longer reaches the device: the platform disabled it, or it was deleted. */
const GONE_ERRORS = new Set(['EndpointDisabledException', 'NotFoundException']);
/** The regular expression of SNS's own guide for the endpoint a conflicting CreatePlatformEndpoint names. */
const EXISTING_ENDPOINT = /.*Endpoint (arn:aws[^ ]+) already exists with the same [Tt]oken.*/;

type SnsError = Error & { $metadata?: { httpStatusCode?: number }; $fault?: 'client' | 'server' };

/** SNS's answer was a throttle or a fault on its side, after every attempt. */
class SnsUnavailableError extends Error {
  constructor(cause: unknown) {
    super('SNS throttled or failed through every attempt', { cause });
    this.name = 'SnsUnavailableError';
  }
}

/** Sends `apns` and `fcm` registrations' pushes; a `webpush` registration is not its to send. */
export class SnsPushSender implements PushSender {
  readonly #options: SnsPushSenderOptions;

  constructor(options: SnsPushSenderOptions) {
    this.#options = options;
  }

  async send(
    registration: PushRegistration,
    payload: PushPayload,
    options: PushSendOptions,
  ): Promise<PushOutcome> {
    const { address } = registration;
    const application =
      address.kind === 'apns'
        ? this.#options.apnsPlatformApplicationArn
        : address.kind === 'fcm'
          ? this.#options.fcmPlatformApplicationArn
          : undefined;
    if (address.kind === 'webpush' || !application) return 'failed';
    try {
      const endpointArn =
        registration.platformEndpointArn ??
        (await this.#endpointFor(registration, application, address.token));
      if (!endpointArn) return 'gone';
      return await this.#publish(
        endpointArn,
        publishInput(application, payload, options, this.#options.title),
      );
    } catch (error) {
      return error instanceof SnsUnavailableError ? 'throttled' : 'failed';
    }
  }

  /**
   * The endpoint of the token, made now or found: SNS answers an existing endpoint of the same
   * token and attributes with its ARN; one of the same token but other attributes (typically
   * disabled after an earlier failure, then registered again by the app) is named in the
   * error, and is given the token and enabled, as SNS's guide does. Undefined: SNS refused
   * the token itself, which no retry changes.
   */
  async #endpointFor(
    registration: PushRegistration,
    application: string,
    token: string,
  ): Promise<string | undefined> {
    let endpointArn: string | undefined;
    for (let creations = 0; creations < 2 && !endpointArn; creations += 1) {
      try {
        const created = await this.#call(() =>
          this.#options.sns.send(
            new CreatePlatformEndpointCommand({ PlatformApplicationArn: application, Token: token }),
          ),
        );
        endpointArn = created.EndpointArn;
      } catch (error) {
        const existing = EXISTING_ENDPOINT.exec((error as Error).message ?? '')?.[1];
        if (!existing) {
          // A token SNS refuses never makes an endpoint; another bad parameter (the
          // application's ARN) is the deployment's fault, not the device's.
          if (
            (error as Error).name === 'InvalidParameterException' &&
            /\bToken\b/.test((error as Error).message)
          ) {
            return undefined;
          }
          throw error;
        }
        endpointArn = await this.#reenable(existing, token);
      }
    }
    if (!endpointArn) throw new Error('SNS made no platform endpoint');
    // Not kept is not lost: the next push finds the same endpoint again (CreatePlatformEndpoint is idempotent).
    await this.#options.keepEndpoint(registration, endpointArn).catch(() => {});
    return endpointArn;
  }

  /** Gives an existing endpoint the token and enables it; undefined when it was deleted meanwhile (create again). */
  async #reenable(endpointArn: string, token: string): Promise<string | undefined> {
    const { sns } = this.#options;
    try {
      const { Attributes: attributes } = await this.#call(() =>
        sns.send(new GetEndpointAttributesCommand({ EndpointArn: endpointArn })),
      );
      if (attributes?.Token !== token || attributes?.Enabled !== 'true') {
        await this.#call(() =>
          sns.send(
            new SetEndpointAttributesCommand({
              EndpointArn: endpointArn,
              Attributes: { Token: token, Enabled: 'true' },
            }),
          ),
        );
      }
      return endpointArn;
    } catch (error) {
      if ((error as Error).name === 'NotFoundException') return undefined;
      throw error;
    }
  }

  async #publish(
    endpointArn: string,
    input: Omit<ConstructorParameters<typeof PublishCommand>[0], 'TargetArn'>,
  ) {
    try {
      await this.#call(() =>
        this.#options.sns.send(new PublishCommand({ ...input, TargetArn: endpointArn })),
      );
      return 'sent';
    } catch (error) {
      if (!GONE_ERRORS.has((error as Error).name)) throw error;
      // The caller deletes the registration; the endpoint goes with it, so that no token is
      // left behind. DeleteEndpoint is idempotent; a failure leaves an endpoint SNS keeps disabled.
      await this.#options.sns.send(new DeleteEndpointCommand({ EndpointArn: endpointArn })).catch(() => {});
      return 'gone';
    }
  }

  /** One SNS call, again after a throttle or a fault on SNS's side, with full-jitter backoff, within a bound. */
  async #call<Result>(call: () => Promise<Result>): Promise<Result> {
    const { maxAttempts = 3, backoff = SYSTEM_BACKOFF } = this.#options;
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await call();
      } catch (error) {
        if (!isRetried(error as SnsError)) throw error;
        if (attempt >= maxAttempts) throw new SnsUnavailableError(error);
        await waitBeforeRetry(attempt - 1, RETRY_POLICY, backoff);
      }
    }
  }
}

function isRetried(error: SnsError): boolean {
  return (
    RETRIED_ERRORS.has(error.name) ||
    error.$fault === 'server' ||
    (error.$metadata?.httpStatusCode ?? 0) >= 500
  );
}

/** The payload's fields as strings: FCM's `data` takes string values only. */
function dataOf(payload: PushPayload): Record<string, string> {
  return Object.fromEntries(Object.entries(payload).map(([key, value]) => [key, String(value)]));
}

/**
 * The Publish of one push. APNs: the alert, `mutable-content` so that an app's notification
 * service extension may rewrite it, the payload's fields beside `aps`, and the collapse id,
 * push type, priority and TTL as SNS's reserved message attributes. FCM: the HTTP v1 message
 * with Android's `collapse_key` and `ttl`.
 */
export function publishInput(
  application: string,
  payload: PushPayload,
  { collapseKey, ttlSeconds }: PushSendOptions,
  title = 'Parley',
): Omit<ConstructorParameters<typeof PublishCommand>[0], 'TargetArn'> {
  const string = (value: string): MessageAttributeValue => ({ DataType: 'String', StringValue: value });
  if (application.includes(':app/GCM/')) {
    const message = {
      fcmV1Message: {
        message: {
          notification: { title, body: payload.text },
          data: dataOf(payload),
          android: { collapse_key: collapseKey, ttl: `${ttlSeconds}s`, priority: 'high' },
        },
      },
    };
    return {
      MessageStructure: 'json',
      Message: JSON.stringify({ GCM: JSON.stringify(message) }),
      MessageAttributes: {
        'AWS.SNS.MOBILE.FCM.TTL': { DataType: 'Number', StringValue: String(ttlSeconds) },
      },
    };
  }
  const platform = application.includes(':app/APNS_SANDBOX/') ? 'APNS_SANDBOX' : 'APNS';
  const message = { aps: { alert: { title, body: payload.text }, 'mutable-content': 1 }, ...payload };
  return {
    MessageStructure: 'json',
    Message: JSON.stringify({ [platform]: JSON.stringify(message) }),
    MessageAttributes: {
      'AWS.SNS.MOBILE.APNS.COLLAPSE_ID': string(collapseKey),
      'AWS.SNS.MOBILE.APNS.PUSH_TYPE': string('alert'),
      'AWS.SNS.MOBILE.APNS.PRIORITY': string('10'),
      [`AWS.SNS.MOBILE.${platform}.TTL`]: { DataType: 'Number', StringValue: String(ttlSeconds) },
    },
  };
}
