/**
 * Ids and their rules. User, device and client message ids share one rule, chosen by the
 * client; request ids are any short string, echoed in the answer.
 */
import { z } from 'zod';
import { typeError } from './fields.js';

/** The rule of user, device and client message ids. */
export const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** What an id that breaks the rule is told, after the field's name. */
export const ID_RULE_MESSAGE = 'must be 1 to 64 characters of A-Z, a-z, 0-9, _ or -';

export const userIdSchema = z.string({ error: typeError('a string') }).regex(ID_PATTERN, ID_RULE_MESSAGE);
export const deviceIdSchema = userIdSchema;
export const clientMessageIdSchema = userIdSchema;
export const requestIdSchema = z
  .string({ error: typeError('a string') })
  .min(1, 'must be 1 to 64 characters')
  .max(64, 'must be 1 to 64 characters');
/** `dm:{x}:{y}` or `grp:{id}`; the form and membership are checked by the domain. */
export const conversationIdSchema = z
  .string({ error: typeError('a string') })
  .min(1, 'must be a conversation id')
  .max(140, 'must be a conversation id of at most 140 characters');
