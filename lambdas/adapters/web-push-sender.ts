/**
 * Sends Web Push (RFC 8030) to a browser's push service: the payload encrypted for the
 * subscription (RFC 8291, aes128gcm) and signed with the deployment's VAPID key (RFC 8292),
 * both by the `web-push` library. The request itself is ours (`fetch`): `web-push`'s own
 * `sendNotification` speaks only https, which the local push service does not, and here a
 * redirect is refused rather than followed, so that a push service cannot send our request
 * on to an address of its choosing.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { PushPayload } from '@parley/protocol';
import webPush from 'web-push';
import { isAllowedPushEndpoint } from '../config.js';
import { type BackoffDeps, type BackoffPolicy, backoffDelay } from '../domain/backoff.js';
import type { Logger, PushOutcome, PushRegistration, PushSender, PushSendOptions } from '../domain/ports.js';

export interface VapidKeys {
  publicKey: string;
  /** A `mailto:` or `https:` contact for the push services (RFC 8292 `sub`). */
  subject: string;
  /** The private key, read at most once per instance (it may come from Secrets Manager). */
  privateKey: () => Promise<string>;
}

export interface WebPushSenderOptions {
  vapid: VapidKeys;
  /** Hosts and origins a subscription's endpoint may have (`PARLEY_PUSH_ENDPOINT_HOSTS`). */
  endpointHosts: readonly string[];
  logger: Logger;
  fetch?: typeof fetch;
  backoff?: BackoffDeps;
  /** Tries per push, the first one included; default 3. */
  maxAttempts?: number;
  /** Each try's bound, in milliseconds; default 3000. */
  timeoutMs?: number;
  /** The longest wait before a retry, even when `Retry-After` asks for more; default 2000. */
  maxRetryDelayMs?: number;
}

/** The backoff between tries when the push service names no `Retry-After`. */
const RETRY_POLICY: BackoffPolicy = { baseDelayMs: 200, maxDelayMs: 1000 };

type TryOutcome = PushOutcome | { retryAfterMs: number | undefined };

export class WebPushSender implements PushSender {
  readonly #options: WebPushSenderOptions;
  readonly #fetch: typeof fetch;
  readonly #backoff: BackoffDeps;
  #privateKey: Promise<string> | undefined;

  constructor(options: WebPushSenderOptions) {
    this.#options = options;
    this.#fetch = options.fetch ?? fetch;
    this.#backoff = options.backoff ?? { random: Math.random, sleep: (ms) => sleep(ms) };
  }

  async send(
    registration: PushRegistration,
    payload: PushPayload,
    options: PushSendOptions,
  ): Promise<PushOutcome> {
    const { address } = registration;
    if (address.kind !== 'webpush') return 'failed';
    const { logger, endpointHosts } = this.#options;
    if (!isAllowedPushEndpoint(address.endpoint, endpointHosts)) {
      // Registration checks the endpoint; one stored before the hosts changed is refused here.
      logger.warn('web push refused: the endpoint is not on an allowed host', {
        endpoint: originOf(address.endpoint),
      });
      return 'failed';
    }
    const maxAttempts = this.#options.maxAttempts ?? 3;
    for (let attempt = 0; ; attempt += 1) {
      const outcome = await this.#tryOnce(address, payload, options);
      if (typeof outcome === 'string') return outcome;
      if (attempt + 1 >= maxAttempts) return 'throttled';
      const fallback = backoffDelay(attempt, RETRY_POLICY, this.#backoff.random);
      await this.#backoff.sleep(
        Math.min(outcome.retryAfterMs ?? fallback, this.#options.maxRetryDelayMs ?? 2000),
      );
    }
  }

  async #tryOnce(
    address: Extract<PushRegistration['address'], { kind: 'webpush' }>,
    payload: PushPayload,
    options: PushSendOptions,
  ): Promise<TryOutcome> {
    const { logger, vapid } = this.#options;
    const request = webPush.generateRequestDetails(
      { endpoint: address.endpoint, keys: address.keys },
      JSON.stringify(payload),
      {
        vapidDetails: {
          subject: vapid.subject,
          publicKey: vapid.publicKey,
          privateKey: await this.#loadPrivateKey(),
        },
        TTL: options.ttlSeconds,
        topic: options.collapseKey,
        // A message for a person: wake the device now rather than at its next idle moment.
        urgency: 'high',
        contentEncoding: 'aes128gcm',
      },
    );
    let response: Response;
    try {
      response = await this.#fetch(request.endpoint, {
        method: 'POST',
        headers: request.headers as Record<string, string>,
        body: request.body,
        redirect: 'manual',
        signal: AbortSignal.timeout(this.#options.timeoutMs ?? 3000),
      });
      await response.arrayBuffer();
    } catch (error) {
      // No answer (a timeout, a reset): the push service may be overloaded, as with a 5xx.
      logger.warn('web push got no answer', { endpoint: originOf(address.endpoint), error: String(error) });
      return { retryAfterMs: undefined };
    }
    return outcomeOf(response, originOf(address.endpoint), logger);
  }

  #loadPrivateKey(): Promise<string> {
    if (!this.#privateKey) {
      this.#privateKey = this.#options.vapid.privateKey();
      // A failed read is tried again by the next push, not remembered.
      this.#privateKey.catch(() => {
        this.#privateKey = undefined;
      });
    }
    return this.#privateKey;
  }
}

/** What a push service's status means (RFC 8030 §5, §8.4; docs/adr/0016-push.md). */
function outcomeOf(response: Response, origin: string, logger: Logger): TryOutcome {
  const { status } = response;
  if (status === 200 || status === 201 || status === 202) return 'sent';
  if (status === 404 || status === 410) return 'gone';
  if (status === 429 || status >= 500) {
    return { retryAfterMs: retryAfterMs(response.headers.get('retry-after')) };
  }
  // 400 (malformed), 403 (VAPID refused), 413 (too large), a redirect: no retry can help.
  logger.error('web push refused', { endpoint: origin, status });
  return 'failed';
}

/** `Retry-After` as seconds or an HTTP date, in milliseconds from now; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * The endpoint's origin alone: the rest of its path is the subscription's capability (who
 * knows it can push to the device), so it stays out of the logs.
 */
function originOf(endpoint: string): string {
  return URL.canParse(endpoint) ? new URL(endpoint).origin : '(not a URL)';
}
