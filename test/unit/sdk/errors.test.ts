import { OutboxFullError, ParleyError, ParleyErrorCode, ParleySdkError } from '@parley/sdk';
import { describe, expect, it } from 'vitest';
import { toParleyError } from '../../../sdk/src/errors.js';

describe('the SDK’s errors', () => {
  it('share one base class, each with its own name and the cause it was given', () => {
    const cause = new Error('socket hang up');
    const refused = new ParleyError(ParleyErrorCode.ConnectionLost, 'send failed', { cause });
    const full = new OutboxFullError(3);

    expect(refused).toBeInstanceOf(ParleySdkError);
    expect(full).toBeInstanceOf(ParleySdkError);
    expect(full).not.toBeInstanceOf(ParleyError);
    expect(refused).toMatchObject({ name: 'ParleyError', code: 'connection_lost', cause });
    expect(full).toMatchObject({
      name: 'OutboxFullError',
      message: 'the outbox is full: 3 messages are waiting to be sent',
    });
  });

  it('reports an unexpected error as internal, keeping it as the cause, and a ParleyError as it is', () => {
    const unexpected = new RangeError('quota exceeded');
    const refused = new ParleyError(ParleyErrorCode.Forbidden, 'not yours');

    expect(toParleyError(unexpected)).toMatchObject({
      name: 'ParleyError',
      code: ParleyErrorCode.Internal,
      message: 'quota exceeded',
      cause: unexpected,
    });
    expect(toParleyError('a string')).toMatchObject({ code: ParleyErrorCode.Internal, message: 'a string' });
    expect(toParleyError(refused)).toBe(refused);
  });
});
