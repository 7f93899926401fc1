/**
 * The part of the WebSocket API the client uses: the browser's `WebSocket` and the `ws`
 * package's both fit, so the same client runs in browsers and in Node.
 */
/**
 * What the client needs of a WebSocket.
 *
 * @example
 * import WebSocket from 'ws';
 * new ParleyClient({ url, token, deviceId, WebSocket: WebSocket as unknown as WebSocketConstructor });
 */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: unknown) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

/**
 * A WebSocket class: the browser's, or the `ws` package's.
 *
 * @example
 * const WebSocketClass: WebSocketConstructor = globalThis.WebSocket;
 */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** `WebSocket.OPEN`, the same in every implementation. */
export const WS_OPEN = 1;
