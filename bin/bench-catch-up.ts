/**
 * `npm run bench:catch-up`: what a device reads to catch up after missing 10 messages in
 * one conversation, when its user has 1 conversation and when it has 500. Counts the
 * DynamoDB items the catch-up requests read (conversations since the cursor, then sync
 * of the conversations that moved), from the responses of the real DynamoDB Local.
 */
import { randomUUID } from 'node:crypto';
import { directConversationId } from '@parley/protocol';
import pLimit from 'p-limit';
import { LOCAL_JWT_SECRET } from '../lambdas/config.js';
import { mintToken } from '../lambdas/domain/tokens.js';
import { startLocalStack } from '../local/stack.js';
import { TestClient } from '../test/support/ws-client.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const MISSED = 10;
const stack = await startLocalStack({ wsPort: 0, logLevel: 'ERROR' });

let counting = false;
const read = { items: 0, requests: 0 };
stack.deps.clients.dynamodb.middlewareStack.add(
  (next) => async (args) => {
    const result = await next(args);
    if (counting) {
      const output = (result.output ?? {}) as {
        Items?: unknown[];
        Item?: unknown;
        Responses?: Record<string, unknown[]>;
        ScannedCount?: number;
      };
      read.requests++;
      if (output.ScannedCount !== undefined) read.items += output.ScannedCount;
      else if (output.Items) read.items += output.Items.length;
      else if (output.Item) read.items += 1;
      else if (output.Responses) read.items += Object.values(output.Responses).flat().length;
    }
    return result;
  },
  { step: 'initialize', name: 'countItemsRead' },
);

const connect = async (userId: string, deviceId: string) =>
  TestClient.connect(stack.url, { token: await mintToken(userId, LOCAL_JWT_SECRET), deviceId });

async function measure(conversations: number): Promise<{ items: number; requests: number; ms: number }> {
  const user = `u${conversations}x${randomUUID().slice(0, 6)}`;
  const peers = Array.from({ length: conversations }, (_, i) => `${user}p${i}`);
  const writer = await connect(`${user}w`, 'w');
  // One message in each of the user's conversations, from the user's side.
  const phone = await connect(user, 'phone');
  const limit = pLimit(8);
  await Promise.all(
    peers.map((peer) =>
      limit(() =>
        phone.request({ action: 'send', to: peer, clientMessageId: randomUUID(), body: 'hello' }, 30_000),
      ),
    ),
  );
  // Wait until the list holds them all, then take the device's cursor.
  let cursor: string | undefined;
  for (let listed = 0; listed < conversations; ) {
    listed = 0;
    cursor = undefined;
    for (let more = true; more; ) {
      const page = await phone.request({
        action: 'conversations',
        limit: 100,
        ...(cursor ? { since: cursor } : {}),
      });
      listed += (page.conversations as unknown[]).length;
      cursor = page.cursor as string;
      more = page.hasMore as boolean;
    }
  }
  await phone.close();

  // While the phone is away, a peer sends 10 messages in one conversation.
  const busyPeer = peers[0] as string;
  const conversationId = directConversationId(user, busyPeer);
  const peer = await connect(busyPeer, 'phone');
  for (let i = 0; i < MISSED; i++) {
    await peer.request({ action: 'send', to: user, clientMessageId: randomUUID(), body: `missed ${i}` });
  }
  const tablet = await connect(user, 'tablet');
  await tablet.messagesOf(conversationId, 1 + MISSED).catch(() => undefined);
  for (;;) {
    const page = await tablet.request({ action: 'conversations', since: cursor });
    const entry = (page.conversations as Array<{ conversationId: string; lastSeq: number }>).find(
      (e) => e.conversationId === conversationId,
    );
    if (entry?.lastSeq === 1 + MISSED) break;
  }

  // The phone comes back and catches up: conversations since its cursor, then sync.
  const back = await connect(user, 'phone');
  read.items = 0;
  read.requests = 0;
  counting = true;
  const started = performance.now();
  const changed = await back.request({ action: 'conversations', since: cursor });
  if (changed.type !== 'conversations') throw new Error(`catch-up failed: ${JSON.stringify(changed)}`);
  for (const entry of changed.conversations as Array<{ conversationId: string }>) {
    await back.request({ action: 'sync', conversationId: entry.conversationId, afterSeq: 1 });
  }
  const ms = performance.now() - started;
  counting = false;
  await Promise.all([back.close(), tablet.close(), peer.close(), writer.close()]);
  return { ...read, ms };
}

try {
  console.log(
    `\nCatch-up after missing ${MISSED} messages in one conversation (local stack, DynamoDB Local)\n`,
  );
  console.log('conversations   items read   DynamoDB requests   time (ms)');
  for (const conversations of [1, 500]) {
    const result = await measure(conversations);
    console.log(
      `${String(conversations).padStart(13)}   ${String(result.items).padStart(10)}   ${String(result.requests).padStart(17)}   ${result.ms.toFixed(0).padStart(9)}`,
    );
  }
  console.log(
    '\nitems read = items DynamoDB examined for the catch-up requests (Query ScannedCount, GetItem, BatchGetItem):\n' +
      'the changed list entry, the 10 messages, the last-seq item and the receipt items.',
  );
} finally {
  await stack.stop();
}
