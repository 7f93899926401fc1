/**
 * The conversation list is written by the fanout after delivery: ask again until it shows
 * what a test expects, each ask being a real round trip (no fixed sleeps).
 */
import type { Frame, TestClient } from './ws-client.js';

export interface ListPage {
  conversations: Array<Frame & { conversationId: string; lastSeq: number }>;
  cursor: string;
  hasMore: boolean;
}

export async function waitForList(
  device: TestClient,
  query: Record<string, unknown>,
  done: (page: ListPage) => boolean,
  timeoutMs = 10_000,
): Promise<ListPage> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const page = (await device.request({ action: 'conversations', ...query })) as unknown as ListPage;
    if (done(page)) return page;
    if (Date.now() > deadline) throw new Error(`the list never matched: ${JSON.stringify(page)}`);
    await device.request({ action: 'ping' });
  }
}
