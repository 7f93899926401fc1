/**
 * Marks the open chat read. Reads are marked only while connected and visible: the SDK
 * shows a read made offline at once but never sends it, so the sender would never see
 * it. The next open marks them.
 */
import { ConnectionState, type ParleyClient } from '@parley/sdk';

export class ReadMarker {
  private marking = false;
  private markAgain = false;

  constructor(
    private readonly client: ParleyClient,
    private readonly openId: () => string | undefined,
  ) {}

  canMarkRead(): boolean {
    return this.client.state === ConnectionState.Open && document.visibilityState === 'visible';
  }

  /**
   * Marks the open chat read if it has unread messages: one ack at a time, and one more if
   * something new arrived meanwhile.
   */
  markOpenChatRead(): void {
    const openId = this.openId();
    if (!openId || !this.canMarkRead() || this.client.unreadCount(openId) === 0) return;
    if (this.marking) {
      this.markAgain = true;
      return;
    }
    this.marking = true;
    this.client
      .markRead(openId)
      .catch(() => {})
      .finally(() => {
        this.marking = false;
        if (this.markAgain) {
          this.markAgain = false;
          this.markOpenChatRead();
        }
      });
  }
}
