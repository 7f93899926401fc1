/**
 * Building blocks of the frame schemas, kept out of the package's exports: the messages a
 * client reads when a field is wrong.
 */
import { z } from 'zod';

/** A type error that tells a missing field from a field of the wrong type. */
export const typeError = (expected: string) => (issue: { input?: unknown }) =>
  issue.input === undefined ? 'is required' : `must be ${expected}`;

/** A message's place in its conversation: 1 for the first, 0 before any. */
export const seqSchema = z
  .number({ error: typeError('a number') })
  .int('must be an integer')
  .min(0, 'must be 0 or more');

/** A page size, with the default a frame gets when it names none. */
export const limitSchema = (max: number, fallback: number) =>
  z
    .number({ error: typeError('a number') })
    .int('must be an integer')
    .min(1, `must be 1 to ${max}`)
    .max(max, `must be 1 to ${max}`)
    .default(fallback);
