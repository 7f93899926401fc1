import { randomUUID } from 'node:crypto';
import { directConversationId } from '@parley/protocol';
import { describe, expect, it } from 'vitest';
import type { StreamEvent } from '../../lambdas/domain/ports.js';
import { uniqueId, useTestStack } from '../support/stack.js';
import type { Frame, TestClient } from '../support/ws-client.js';

/** clientMessageIds whose first publish fails, as if the function crashed right after the commit. */
const crashAfterCommit = new Set<string>();

describe('exactly-once sequencing under concurrency and crashes', () => {
  const { connect } = useTestStack({
    deps: {
      wrap: (deps) => ({
        ...deps,
        publisher: {
          publish: async (event: StreamEvent) => {
            if (event.type === 'message' && crashAfterCommit.delete(event.clientMessageId))
              throw new Error('injected: crashed after commit');
            await deps.publisher.publish(event);
          },
        },
      }),
    },
  });

  it('gives 45 messages sent at once from three devices the seqs 1 to 45 and delivers all to every device', async () => {
    const [alice, bob] = [uniqueId('alice'), uniqueId('bob')];
    const conversationId = directConversationId(alice, bob);
    const senders = [
      await connect(alice, 'phone'),
      await connect(alice, 'desktop'),
      await connect(bob, 'phone'),
    ];
    const bobTablet = await connect(bob, 'tablet');

    // As docs/protocol.md asks of clients: a send answered `internal` (here: the sequencing
    // retry bound ran out under this deliberate contention) is retried with the same
    // clientMessageId, a bounded number of times.
    let clientRetries = 0;
    const sendUntilSent = async (device: TestClient, frame: Record<string, unknown>) => {
      for (let attempt = 0; attempt < 5; attempt++) {
        const answer = await device.request(frame, 20_000);
        if (answer.type !== 'error' || answer.code !== 'internal') return answer;
        clientRetries++;
      }
      throw new Error(`send of ${frame.clientMessageId} kept failing`);
    };

    const answers = await Promise.all(
      senders.flatMap((device, d) =>
        Array.from({ length: 15 }, (_, i) =>
          sendUntilSent(device, {
            action: 'send',
            conversationId,
            clientMessageId: `d${d}-m${i}`,
            body: `${d}/${i}`,
          }),
        ),
      ),
    );

    expect(answers.filter((answer) => answer.type !== 'sent')).toEqual([]);
    // A first try that committed but answered `internal` comes back as a duplicate; the
    // rest were stored by the first try that reached the server.
    expect(answers.filter((answer) => answer.duplicate === true).length).toBeLessThanOrEqual(clientRetries);
    const seqs = answers.map((answer) => answer.seq as number).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: 45 }, (_, i) => i + 1));
    for (const device of [...senders, bobTablet]) {
      const messages = await device.messagesOf(conversationId, 45, 30_000);
      expect(messages.map((message) => message.seq)).toEqual(seqs);
    }
    const history = await bobTablet.request({ action: 'sync', conversationId, afterSeq: 0, limit: 200 });
    const stored = history.messages as Frame[];
    expect(stored.map((message) => message.clientMessageId).sort()).toEqual(
      answers.map((answer) => answer.clientMessageId).sort(),
    );
    // Every device saw each seq with the body that is stored under it.
    const bodyBySeq = new Map(stored.map((message) => [message.seq, message.body]));
    for (const device of [...senders, bobTablet]) {
      for (const event of device.received.filter((frame) => frame.type === 'message')) {
        expect(event.body).toBe(bodyBySeq.get(event.seq));
      }
    }
  });

  it('stores the same clientMessageId sent five times at once exactly once', async () => {
    const [alice, bob] = [uniqueId('alice'), uniqueId('bob')];
    const devices = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((device) => connect(alice, device)));
    const clientMessageId = randomUUID();

    const answers = await Promise.all(
      devices.map((device) =>
        device.request({ action: 'send', to: bob, clientMessageId, body: 'just once' }),
      ),
    );

    expect(new Set(answers.map((answer) => answer.seq))).toEqual(new Set([1]));
    expect(new Set(answers.map((answer) => answer.messageId)).size).toBe(1);
    expect(answers.filter((answer) => answer.duplicate === false)).toHaveLength(1);
    const history = await devices[0]?.request({
      action: 'sync',
      conversationId: answers[0]?.conversationId,
      afterSeq: 0,
    });
    expect(history?.messages).toHaveLength(1);
    expect(history?.lastSeq).toBe(1);
  });

  it('delivers a message whose publish crashed after the commit once the client retries, and stores it once', async () => {
    const [alice, bob] = [uniqueId('alice'), uniqueId('bob')];
    const alicePhone = await connect(alice, 'phone');
    const bobPhone = await connect(bob, 'phone');
    const conversationId = directConversationId(alice, bob);
    const clientMessageId = randomUUID();
    crashAfterCommit.add(clientMessageId);
    const frame = { action: 'send', to: bob, clientMessageId, body: 'survives a crash' };

    const failed = await alicePhone.request({ ...frame, requestId: 'try-1' });
    const retried = await alicePhone.request({ ...frame, requestId: 'try-2' });

    expect(failed).toMatchObject({ type: 'error', requestId: 'try-1', code: 'internal' });
    expect(retried).toMatchObject({ type: 'sent', requestId: 'try-2', seq: 1, duplicate: true });
    const [delivered] = await bobPhone.messagesOf(conversationId, 1);
    expect(delivered).toMatchObject({ seq: 1, body: 'survives a crash', messageId: retried.messageId });
    const history = await bobPhone.request({ action: 'sync', conversationId, afterSeq: 0 });
    expect(history.messages).toHaveLength(1);
  });
});
