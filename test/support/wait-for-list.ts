/**
 * The conversation list is written by the fanout after delivery: ask again until it shows
 * what a test expects, each ask being a real round trip. The asks back off (up to 400 ms
 * apart) because `conversations` has a per-user rate limit (60 in 10 s by default): asking
 * as fast as round trips allow would be refused with `rate_limited` on a slow machine
 * before the list is written.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { Frame, TestClient } from './ws-client.js';

export interface ListPage {
  conversations: Array<Frame & { conversationId: string; lastSeq: number }>;
  cursor: string;
  hasMore: boolean;
}

const MAX_ASK_INTERVAL_MS = 400;

export async function waitForList(
  device: TestClient,
  query: Record<string, unknown>,
  done: (page: ListPage) => boolean,
  timeoutMs = 10_000,
): Promise<ListPage> {
  const deadline = Date.now() + timeoutMs;
  for (let interval = 25; ; interval = Math.min(interval * 2, MAX_ASK_INTERVAL_MS)) {
    const answer = await device.request({ action: 'conversations', ...query });
    const refused = answer.type === 'error';
    if (refused && answer.code !== 'rate_limited') {
      throw new Error(`conversations was refused: ${JSON.stringify(answer)}`);
    }
    const page = answer as unknown as ListPage;
    if (!refused && done(page)) return page;
    if (Date.now() > deadline) throw new Error(`the list never matched: ${JSON.stringify(answer)}`);
    await delay(interval);
  }
}
