/**
 * Which socket errors the gateway reports as warnings: a client that goes away is normal.
 */
import { describe, expect, it } from 'vitest';
import { isClientGone, logSocketError } from '../../../local/gateway/log.js';

function errorWithCode(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`read ${code}`), { code });
}

describe('socket errors', () => {
  it.each(['ECONNRESET', 'EPIPE', 'ECONNABORTED'])(
    'logs %s, a client that went away, at info level',
    (code) => {
      // prepare
      const entries: Array<{ level: string; message: string; details: unknown }> = [];

      // act
      logSocketError(
        (level, message, details) => entries.push({ level, message, details }),
        'connection',
        errorWithCode(code),
        {
          connectionId: 'c1',
        },
      );

      // assess
      expect(entries).toEqual([
        {
          level: 'info',
          message: 'connection closed by the client',
          details: { connectionId: 'c1', error: `Error: read ${code}` },
        },
      ]);
    },
  );

  it.each([
    ['an error with another code', errorWithCode('ERR_SSL_WRONG_VERSION_NUMBER')],
    ['an error without a code', new Error('boom')],
    ['a value that is no error', 'boom'],
  ])('logs %s as a warning', (_name, error) => {
    // prepare
    const entries: Array<{ level: string; message: string }> = [];

    // act
    logSocketError((level, message) => entries.push({ level, message }), 'upgrade socket', error);

    // assess
    expect(entries).toEqual([{ level: 'warn', message: 'upgrade socket error' }]);
    expect(isClientGone(error)).toBe(false);
  });
});
