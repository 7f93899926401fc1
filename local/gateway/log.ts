/**
 * How the gateway reports what happens: the log callback of its options, and which socket
 * errors are a fault worth a warning.
 */
import type { WebSocketGatewayOptions } from './types.js';

export type GatewayLog = NonNullable<WebSocketGatewayOptions['log']>;

/**
 * The errors of a socket whose client went away: a closed browser tab or a dropped network
 * resets the TCP connection, and a write after that fails with EPIPE. Clients do this all the
 * time, during the upgrade as after it, so it is no fault of the gateway or of the client.
 */
const CLIENT_GONE_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

/** Whether a socket error only says that the client went away. */
export function isClientGone(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' && CLIENT_GONE_CODES.has(code);
}

/**
 * Logs an error of a client's socket: at info level when the client only went away, as a
 * warning otherwise. `socketName` names the socket: `upgrade socket`, `connection`.
 */
export function logSocketError(
  log: GatewayLog,
  socketName: string,
  error: unknown,
  details: Record<string, unknown> = {},
): void {
  if (isClientGone(error))
    log('info', `${socketName} closed by the client`, { ...details, error: String(error) });
  else log('warn', `${socketName} error`, { ...details, error: String(error) });
}

export function defaultLog(level: 'info' | 'warn' | 'error', message: string, details?: unknown): void {
  if (level === 'info') return;
  console.error(`[ws-gateway] ${level}: ${message}`, details ?? '');
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function describeError(error: unknown): unknown {
  return error instanceof Error ? { name: error.name, message: error.message, stack: error.stack } : error;
}
