/**
 * fast-check arbitraries of hostile client frames, shared by the unit properties (every
 * handler over mocked AWS clients) and the end-to-end ones (the local stack).
 *
 * A frame is either one that the action serves, or one built from the action's fields and
 * then mutated: a field missing, of the wrong type, a string at or past its limit, unicode
 * of every kind (NUL, lone surrogates, RTL marks, zero-width joiners, emoji), extra fields
 * (`__proto__` included), nesting thousands deep; or text that is not one JSON object.
 */

import { directConversationId, isWellFormedText, MAX_BODY_CHARS } from '@parley/protocol';
import fc from 'fast-check';
import { encodeCursor } from '../../lambdas/domain/conversation-list.js';

/** Characters that break naive code: NUL, lone and paired surrogates, RTL, zero-width, emoji. */
export const TRICKY_CHARACTERS = [
  '\u0000',
  '\uD800',
  '\uDFFF',
  '\uDBFF\uDFFF',
  '\u200B',
  '\u200D',
  '\u202E',
  '\u2066',
  '\uFEFF',
  '\u2028',
  '\u0301',
  'ש',
  'ع',
  '🙂',
  '👩‍👩‍👧',
  '🇫🇷',
  '𝕏',
  '"',
  '\\',
  '\n',
  ':',
  '#',
];

const anyCodeUnit = fc.integer({ min: 0, max: 0xffff }).map((unit) => String.fromCharCode(unit));
const character = fc.oneof(
  fc.constantFrom(...TRICKY_CHARACTERS),
  anyCodeUnit,
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }),
  fc.constantFrom('a', 'Z', '0', '_', '-'),
);

/** Strings of any characters, `minLength` and `maxLength` counted in characters of the generator. */
export const text = (constraints: { minLength?: number; maxLength?: number } = {}) =>
  fc.string({ unit: character, ...constraints });

/** How the schemas count characters: code points (an emoji is one, a lone surrogate is one). */
export const characterCount = (value: string) => [...value].length;

/** `length` code units of one character repeated (an emoji cut short ends in a lone surrogate). */
export const stringOfLength = (lengths: number[]) =>
  fc
    .tuple(fc.constantFrom(...lengths), fc.constantFrom('x', 'é', '🙂', '\uD800', '\u0000', 'ש'))
    .map(([length, unit]) => unit.repeat(Math.ceil(length / unit.length)).slice(0, length));

const boundaryString = stringOfLength([0, 1, 63, 64, 65, 140, 141, 200, 201, 4095, 4096, 4097, 8192, 8193]);

/** Stands for `depth` nested arrays or objects; `frameText` writes it out (too deep for JSON.stringify). */
export class Deep {
  constructor(
    readonly depth: number,
    readonly kind: 'array' | 'object',
  ) {}

  toText(): string {
    return this.kind === 'array'
      ? `${'['.repeat(this.depth)}${']'.repeat(this.depth)}`
      : `${'{"a":'.repeat(this.depth)}1${'}'.repeat(this.depth)}`;
  }
}

const deep = fc
  .tuple(fc.integer({ min: 100, max: 10_000 }), fc.constantFrom('array' as const, 'object' as const))
  .map(([depth, kind]) => new Deep(depth, kind));

/** Any value a field could hold instead of the right one. */
export const wrongValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  text({ maxLength: 40 }),
  boundaryString,
  fc.constantFrom(-1, 0, 1, 1.5, -0, 2 ** 53, 2 ** 53 + 2, 1e21, -1e21, Number.MAX_VALUE, 5e-324),
  fc.constantFrom(null, true, false, '', [], {}),
  deep,
);

/** Keys a frame should not have, some of them tripping naive code. */
const extraKey = fc.oneof(
  text({ maxLength: 10 }),
  fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', '', 'Action', 'type', 'body '),
);

export const userIdArbitrary = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);

export type ActionName = 'send' | 'ack' | 'sync' | 'conversations' | 'typing' | 'subscribePresence' | 'ping';

/** An action's frames: `valid` ones it serves, and the valid values of each of its fields. */
export interface ActionFrames {
  action: string;
  valid: fc.Arbitrary<Record<string, unknown>>;
  fields: Record<string, fc.Arbitrary<unknown>>;
}

/**
 * The frames of every action for `caller`. Valid ones name `peers` (other users, chosen
 * at random when not given) and the caller's conversations with them; `conversationIds`,
 * when given, are the ids the conversation fields take instead (others' included).
 */
export function actionFrames(
  caller: string,
  options: { peers?: fc.Arbitrary<string>; conversationIds?: fc.Arbitrary<string> } = {},
): Record<ActionName, ActionFrames> {
  const peers = options.peers ?? userIdArbitrary.filter((id) => id !== caller);
  const ownConversation = options.conversationIds ?? peers.map((peer) => directConversationId(caller, peer));
  const requestId = fc.oneof(
    fc.uuid(),
    text({ minLength: 1, maxLength: 64 }).filter((id) => characterCount(id) <= 64),
  );
  // Valid bodies: lone surrogates are refused (see the mutations for those).
  const body = fc
    .oneof(
      text({ minLength: 1, maxLength: 200 }),
      stringOfLength([1, 4095, 4096, 8192]).filter((value) => characterCount(value) <= MAX_BODY_CHARS),
    )
    .filter(isWellFormedText);
  const clientMessageId = fc.oneof(fc.uuid(), userIdArbitrary);
  const seq = fc.oneof(fc.nat({ max: 5 }), fc.maxSafeNat());
  const kind = fc.constantFrom('delivered', 'read');
  const state = fc.constantFrom('start', 'stop');
  const syncLimit = fc.integer({ min: 1, max: 200 });
  const listLimit = fc.integer({ min: 1, max: 100 });
  const since = fc.maxSafeNat().map(encodeCursor);
  const userIds = fc.array(fc.oneof(peers, userIdArbitrary), { minLength: 1, maxLength: 100 });
  const of = <Fields extends Record<string, fc.Arbitrary<unknown>>>(
    action: string,
    fields: Fields,
    required: Array<keyof Fields & string>,
  ): ActionFrames => ({
    action,
    valid: fc.record({ action: fc.constant(action), ...fields } as Record<string, fc.Arbitrary<unknown>>, {
      requiredKeys: ['action', ...required],
    }),
    fields,
  });
  return {
    send: {
      action: 'send',
      valid: fc
        .record({ requestId, clientMessageId, body, target: fc.oneof(peers, ownConversation) })
        .map(({ target, ...fields }) => ({
          action: 'send',
          ...fields,
          ...(target.startsWith('dm:') ? { conversationId: target } : { to: target }),
        })),
      fields: { requestId, to: peers, conversationId: ownConversation, clientMessageId, body },
    },
    ack: of('ack', { requestId, conversationId: ownConversation, seq, kind }, [
      'conversationId',
      'seq',
      'kind',
    ]),
    sync: of('sync', { requestId, conversationId: ownConversation, afterSeq: seq, limit: syncLimit }, [
      'requestId',
      'conversationId',
      'afterSeq',
    ]),
    conversations: of('conversations', { requestId, since, limit: listLimit }, ['requestId']),
    typing: of('typing', { requestId, conversationId: ownConversation, state }, ['conversationId', 'state']),
    subscribePresence: of('subscribePresence', { requestId, userIds }, ['requestId', 'userIds']),
    ping: of('ping', { requestId }, ['requestId']),
  };
}

const OMITTED = Symbol('omitted');

/** Frames of `frames.action`: some valid, most mutated field by field, some with extra fields. */
export function mutatedFrame(frames: ActionFrames): fc.Arbitrary<Record<string, unknown>> {
  const field = (valid: fc.Arbitrary<unknown>) =>
    fc.oneof(
      { weight: 6, arbitrary: valid },
      { weight: 1, arbitrary: fc.constant(OMITTED) },
      { weight: 3, arbitrary: wrongValue },
    );
  const mutated = fc
    .tuple(
      fc.record({
        action: field(fc.constant(frames.action)),
        ...Object.fromEntries(Object.entries(frames.fields).map(([name, valid]) => [name, field(valid)])),
      }),
      fc.option(fc.dictionary(extraKey, wrongValue, { maxKeys: 3 }), { freq: 2 }),
    )
    .map(([fields, extra]) => {
      const frame: Record<string, unknown> = {};
      for (const [name, value] of Object.entries(fields)) if (value !== OMITTED) frame[name] = value;
      // Own properties, `__proto__` included, as JSON.parse makes them.
      for (const [name, value] of Object.entries(extra ?? {})) {
        Object.defineProperty(frame, name, { value, enumerable: true, writable: true, configurable: true });
      }
      return frame;
    });
  return fc.oneof({ weight: 3, arbitrary: frames.valid }, { weight: 7, arbitrary: mutated });
}

/** The JSON text of a frame, each `Deep` written out. */
export function frameText(frame: Record<string, unknown>): string {
  const deepValues: Deep[] = [];
  const json = JSON.stringify(frame, (_key, value: unknown) => {
    if (!(value instanceof Deep)) return value;
    deepValues.push(value);
    return `\u0000deep${deepValues.length - 1}\u0000`;
  });
  return json.replace(/"\\u0000deep(\d+)\\u0000"/g, (_match, index: string) =>
    (deepValues[Number(index)] as Deep).toText(),
  );
}

/** Text that is not one JSON object of the action: any string, other JSON, cut-off or deep JSON. */
export function rawText(frames: ActionFrames): fc.Arbitrary<string> {
  return fc.oneof(
    text({ maxLength: 100 }),
    fc.json({ maxDepth: 3 }),
    fc.constantFrom('', ' ', 'null', '[]', '"ping"', '123', 'true', '{', '{"requestId":"r1"'),
    fc.tuple(frames.valid, fc.nat()).map(([frame, cut]) => {
      const json = JSON.stringify(frame);
      return json.slice(0, cut % json.length);
    }),
    deep.map((value) => value.toText()),
    deep.map((value) => `{"action":"${frames.action}","requestId":"deep","x":${value.toText()}}`),
    frames.valid.map(
      (frame) => `{"requestId":"first",${JSON.stringify({ ...frame, requestId: 'second' }).slice(1)}`,
    ),
  );
}

/** The text of any frame a client could send for the action: mostly JSON objects, some not. */
export function hostileFrameText(frames: ActionFrames): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 8, arbitrary: mutatedFrame(frames).map(frameText) },
    { weight: 2, arbitrary: rawText(frames) },
  );
}

/**
 * The frame's requestId as docs/protocol.md reads it: a JSON object's string of 1 to 64
 * characters. An error answer must echo it, and anything else must get `null`.
 */
export function readableRequestId(text: string): string | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return null;
  const { requestId } = parsed as { requestId?: unknown };
  return typeof requestId === 'string' && characterCount(requestId) >= 1 && characterCount(requestId) <= 64
    ? requestId
    : null;
}

/** What an error message may start with: the frame, the action, a field of it, or a key the frame has. */
export function subjectsOf(frames: Pick<ActionFrames, 'fields'>, text: string): string[] {
  let keys: string[] = [];
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null) keys = Object.keys(parsed);
  } catch {
    // not JSON: only "frame" can be named
  }
  return ['frame', 'action', ...Object.keys(frames.fields), ...keys];
}

/** Whether `message` starts with one of `subjects`: `field: …` or `field.0: …`. */
export function namesOneOf(message: string, subjects: string[]): boolean {
  return subjects.some((subject) => message.startsWith(`${subject}: `) || message.startsWith(`${subject}.`));
}
