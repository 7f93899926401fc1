/**
 * How the gateway reports what happens: the log callback of its options.
 */
import type { WebSocketGatewayOptions } from './types.js';

export type GatewayLog = NonNullable<WebSocketGatewayOptions['log']>;

/** Logs an error of a client's socket. `socketName` names the socket: `upgrade socket`, `connection`. */
export function logSocketError(
  log: GatewayLog,
  socketName: string,
  error: unknown,
  details: Record<string, unknown> = {},
): void {
  log('warn', `${socketName} error`, { ...details, error: String(error) });
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
