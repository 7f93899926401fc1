/**
 * The Parley web app: sign in as any user id, then chat. Each tab is a device of its
 * own; its state and unsent messages are kept in IndexedDB across reloads.
 */
import { conversationIdSchema } from '@parley/protocol';
import { ParleyClient } from '@parley/sdk';
import { IndexedDbStorage } from '@parley/sdk/indexeddb-storage';
import { mountChatApp } from './chat-app.js';
import { deviceId, fetchSession, type Session, storedSession, storeSession, tokenSource } from './session.js';
import { mountSignIn } from './sign-in.js';

const root = document.getElementById('root') as HTMLElement;

/** How long sign-out waits for the server to forget this device's push subscription. */
const UNREGISTER_WAIT_MS = 3000;

/**
 * The conversation a click on a notification opened this window at (`/?conversation=…`),
 * read once: the address goes back to `/` so that a reload does not open it again.
 */
function conversationFromAddress(): string | undefined {
  const url = new URL(location.href);
  if (!url.searchParams.has('conversation')) return undefined;
  const asked = conversationIdSchema.safeParse(url.searchParams.get('conversation'));
  url.searchParams.delete('conversation');
  history.replaceState(history.state, '', url.pathname + url.search + url.hash);
  return asked.success ? asked.data : undefined;
}

/** Sign-out: this device gets no more pushes, as far as the server can be told in a moment. */
async function unregisterPush(client: ParleyClient): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const waited = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, UNREGISTER_WAIT_MS);
  });
  await Promise.race([client.unregisterPush().catch(() => {}), waited]);
  clearTimeout(timer);
}

function signIn(problem?: string): void {
  mountSignIn(
    root,
    (session) => {
      storeSession(session);
      void start(session);
    },
    problem,
  );
}

async function start(session: Session): Promise<void> {
  const device = deviceId();
  const storage = new IndexedDbStorage(`parley-${session.userId}-${device}`);
  const client = new ParleyClient({
    url: session.url,
    token: tokenSource(session),
    deviceId: device,
    storage,
  });
  let unmount = () => {};
  const signOut = async () => {
    unmount();
    storeSession(undefined);
    await unregisterPush(client);
    await client.close().catch(() => {});
    storage.close();
    signIn();
  };
  // connect() reads the first token (the client learns its user from it) and what this
  // device kept, then keeps (re)connecting on its own; the app draws whatever the client
  // holds as it changes, online or not.
  try {
    await client.connect();
  } catch (error) {
    storeSession(undefined);
    signIn(`Cannot start: ${error instanceof Error ? error.message : String(error)}`);
    return;
  }
  unmount = mountChatApp(root, {
    client,
    onSignOut: () => void signOut(),
    openAtStart: conversationFromAddress(),
  });
}

// A reload of a signed-in tab carries on as the same user and device, with a fresh
// token when the server can give one and the kept one when it cannot (offline).
const kept = storedSession();
if (kept) {
  fetchSession(kept.userId).then(
    (fresh) => {
      storeSession(fresh);
      void start(fresh);
    },
    () => void start(kept),
  );
} else {
  signIn();
}
