/**
 * One user flooding `send` and `typing` from several connections while another pair
 * exchanges messages (issue #15). The flooder's sends are answered `rate_limited`, its typing
 * frames over the limit get no answer (a one-way route would have to post each one), and it
 * keeps no more than its limit; the pair's messages all arrive. How long the pair's
 * messages take under the flood is the benchmark's to show (`npm run bench -- --flood`),
 * not a test's.
 */
import { randomUUID } from 'node:crypto';
import { directConversationId } from '@parley/protocol';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RATE_LIMITS, RATE_WINDOW_SECONDS, type RateLimits } from '../../definitions/rate-limits.js';
import { servedInvocations } from '../support/served-invocations.js';
import { uniqueId, useTestStack } from '../support/stack.js';
import type { Frame, TestClient } from '../support/ws-client.js';

/** Tight limits, so that a flood a test machine can make goes well past them. */
const LIMITS: RateLimits = {
  ...DEFAULT_RATE_LIMITS,
  send: { perSecond: 10, perWindow: 30 },
  typing: { perSecond: 5, perWindow: 10 },
};
const FLOOD_CONNECTIONS = 4;
const FRAMES_PER_CONNECTION = 25;
const PAIR_MESSAGES = 8;

/** How many windows of `seconds` the time from `start` to `end` (epoch ms) touches. */
function periodsTouched(start: number, end: number, seconds: number): number {
  return Math.floor(end / 1000 / seconds) - Math.floor(start / 1000 / seconds) + 1;
}

/** Sends every frame at once, without waiting, and resolves with the answers of those that get one. */
async function flood(device: TestClient, frames: Array<Record<string, unknown>>): Promise<Frame[]> {
  const answers = frames.map((frame) => {
    const requestId = randomUUID();
    const answer = device.next((received) => received.requestId === requestId, 20_000);
    device.sendRaw(JSON.stringify({ ...frame, requestId }));
    return answer;
  });
  return Promise.all(answers);
}

/** The typing frames the typing function has served. */
const typing = servedInvocations('typing');

/**
 * Resolves once the typing function has served `count` frames and carol's device has
 * received every typing event they posted: a request answered on her connection after that
 * comes behind them on the same socket.
 */
async function everyTypingFrameServed(count: number, carol: TestClient): Promise<void> {
  await typing.until(count);
  await carol.request({ action: 'conversations', limit: 1 });
}

/** Alice and bob take turns, each waiting for the other's message before answering. */
async function exchange(alice: TestClient, bob: TestClient, conversationId: string, bobId: string) {
  for (let turn = 0; turn < PAIR_MESSAGES; turn += 1) {
    const [from, to] = turn % 2 === 0 ? [alice, bob] : [bob, alice];
    const sent = await from.request({
      action: 'send',
      ...(from === alice ? { to: bobId } : { conversationId }),
      clientMessageId: `pair-${turn}`,
      body: `turn ${turn}`,
    });
    expect(sent).toMatchObject({ type: 'sent', seq: turn + 1 });
    await to.waitFor((frame) => frame.type === 'message' && frame.seq === turn + 1, 15_000);
  }
}

describe('one user flooding send and typing while another pair talks', () => {
  const { connect } = useTestStack({ rateLimits: LIMITS, wrapFunction: typing.wrapFunction });

  it('answers the flooder rate_limited, keeps no more of its sends than the limit, and delivers every message of the pair', {
    timeout: 60_000,
  }, async () => {
    const [mallory, carol, alice, bob] = [
      uniqueId('mallory'),
      uniqueId('carol'),
      uniqueId('alice'),
      uniqueId('bob'),
    ];
    const flooders = [];
    for (let index = 0; index < FLOOD_CONNECTIONS; index += 1)
      flooders.push(await connect(mallory, `d${index}`));
    const carolPhone = await connect(carol, 'phone');
    const [alicePhone, bobPhone] = [await connect(alice, 'phone'), await connect(bob, 'phone')];
    const floodConversation = directConversationId(mallory, carol);
    // Each flooding connection sends to a recipient of its own: one conversation would
    // measure its race for the next seq rather than the limit.
    const recipients = flooders.map((_, d) => `${carol}-${d}`);
    const pairConversation = directConversationId(alice, bob);

    const typingServedBefore = typing.count();
    const floodStart = Date.now();
    const sendAnswers = Promise.all(
      flooders.map((device, d) =>
        flood(
          device,
          Array.from({ length: FRAMES_PER_CONNECTION }, (_, i) => ({
            action: 'send',
            to: recipients[d],
            clientMessageId: `flood-${d}-${i}`,
            body: 'x'.repeat(100),
          })),
        ),
      ),
    );
    // A typing frame is never answered: one let through reaches carol's phone, one over the limit nothing.
    const typingRequestIds = new Set<string>();
    for (const device of flooders) {
      for (let i = 0; i < FRAMES_PER_CONNECTION; i += 1) {
        const requestId = randomUUID();
        typingRequestIds.add(requestId);
        device.sendRaw(
          JSON.stringify({ action: 'typing', conversationId: floodConversation, state: 'start', requestId }),
        );
      }
    }
    const [floodAnswers] = await Promise.all([
      sendAnswers,
      exchange(alicePhone, bobPhone, pairConversation, bob),
    ]);
    const floodEnd = Date.now();
    await everyTypingFrameServed(typingServedBefore + typingRequestIds.size, carolPhone);

    const answers = floodAnswers.flat();
    const accepted = answers.filter((answer) => answer.type === 'sent');
    const refused = answers.filter((answer) => answer.type === 'error');
    expect(refused.length).toBeGreaterThan(0);
    for (const answer of refused) {
      expect(answer).toMatchObject({
        code: 'rate_limited',
        message: expect.stringMatching(
          /^rate limit: at most 10 send frames a second and 30 every 10 seconds per user/,
        ),
      });
    }
    expect(accepted.length).toBeGreaterThan(0);
    expect(accepted.length).toBeLessThanOrEqual(
      LIMITS.send.perWindow * periodsTouched(floodStart, floodEnd, RATE_WINDOW_SECONDS),
    );
    expect(accepted.length).toBeLessThanOrEqual(
      LIMITS.send.perSecond * periodsTouched(floodStart, floodEnd, 1),
    );
    // No typing frame was answered, a refused one included (its answer would have been a post,
    // spending the request quota everyone's messages share), and no more typing reached carol
    // than the limit lets through.
    const typingAnswers = flooders.flatMap((device) =>
      device.received.filter((frame) => typingRequestIds.has(frame.requestId as string)),
    );
    expect(typingAnswers).toEqual([]);
    const typingSeen = carolPhone.received.filter((frame) => frame.type === 'typing').length;
    expect(typingSeen).toBeGreaterThan(0);
    expect(typingSeen).toBeLessThan(typingRequestIds.size);
    expect(typingSeen).toBeLessThanOrEqual(
      LIMITS.typing.perWindow * periodsTouched(floodStart, Date.now(), RATE_WINDOW_SECONDS),
    );

    // Nothing of a refused send was stored: each conversation holds exactly the accepted ones.
    for (const recipient of recipients) {
      const conversationId = directConversationId(mallory, recipient);
      const kept = accepted
        .filter((answer) => answer.conversationId === conversationId)
        .map((answer) => answer.seq as number)
        .sort((a, b) => a - b);
      const history = await flooders[0]?.request({ action: 'sync', conversationId, afterSeq: 0, limit: 200 });
      expect(history?.lastSeq).toBe(kept.length);
      expect(kept).toEqual(Array.from({ length: kept.length }, (_, index) => index + 1));
    }
    // Refused, the flooder's connections stay up.
    expect(flooders.every((device) => device.isOpen)).toBe(true);

    // Every message of the pair reached both, as a client keeps it (docs/protocol.md: by seq,
    // dropping a repeat, since the server may push an event more than once): all of them,
    // each with its body, nothing missing or extra.
    for (const device of [alicePhone, bobPhone]) {
      const kept = new Map<number, unknown>();
      for (const frame of device.received) {
        if (frame.type === 'message' && frame.conversationId === pairConversation) {
          kept.set(frame.seq as number, frame.body);
        }
      }
      expect([...kept.entries()].sort(([a], [b]) => a - b)).toEqual(
        Array.from({ length: PAIR_MESSAGES }, (_, turn) => [turn + 1, `turn ${turn}`]),
      );
    }
  });
});
