/** The banner above the app while the client is not connected, with how many messages wait. */
import { ConnectionState, type ParleyClient } from '@parley/sdk';
import { h, setAttribute, setText } from './dom.js';

export class OfflineBanner {
  readonly element = h('div', {
    class: 'offline-banner',
    'data-testid': 'offline-banner',
    role: 'status',
    hidden: true,
  });

  constructor(private readonly client: ParleyClient) {}

  render(): void {
    const { client, element } = this;
    const offline = client.state !== ConnectionState.Open;
    element.hidden = !offline;
    setAttribute(element, 'data-state', client.state);
    if (offline) {
      const queued = client.pendingCount();
      const retrying =
        client.state === ConnectionState.Reconnecting || client.state === ConnectionState.Connecting
          ? ' · reconnecting…'
          : '';
      setText(element, `Offline — ${queued} ${queued === 1 ? 'message' : 'messages'} queued${retrying}`);
    }
  }
}
