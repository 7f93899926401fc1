import { readFile } from 'node:fs/promises';
import { Parser } from '@asyncapi/parser';
import { CLIENT_FRAME_SCHEMAS, ROUTED_ACTIONS, SERVER_FRAME_SCHEMAS } from '@parley/protocol';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { renderAsyncApi } from '../../protocol/reference/asyncapi.js';
import { ERROR_CODES_TABLE, renderReference } from '../../protocol/reference/frame-tables.js';
import { ASYNCAPI_PATH, generateProtocolDocs, REFERENCE_PATH } from '../../protocol/reference/generate.js';
import {
  CLIENT_FRAME_NAMES,
  protocolJsonSchemas,
  SERVER_FRAME_NAMES,
} from '../../protocol/reference/json-schemas.js';

const REGENERATE = 'run `npm run docs:protocol` and commit the result';

/** The diagnostics of the AsyncAPI parser that make a document invalid. */
async function asyncApiErrors(document: string): Promise<string[]> {
  const { diagnostics } = await new Parser().parse(document);
  // Severity 0 is an error; warnings and hints leave the document valid.
  return diagnostics
    .filter((diagnostic) => diagnostic.severity === 0)
    .map((diagnostic) => diagnostic.message);
}

/** The type, required-ness and rule of a field in one table of the reference. */
function rowOf(reference: string, table: string, field: string): string[] | undefined {
  const block =
    new RegExp(`<!-- table: ${table} -->\\n([\\s\\S]*?)<!-- /table -->`).exec(reference)?.[1] ?? '';
  const rows = block.split('\n').map((line) =>
    line
      .split(/(?<!\\)\|/)
      .slice(1, -1)
      .map((cell) => cell.trim()),
  );
  return rows.find((cells) => cells[0] === `\`${field}\``)?.slice(1);
}

describe('the protocol reference', () => {
  it('holds the tables the schemas give, as committed', async () => {
    const { reference } = await generateProtocolDocs();

    expect(await readFile(REFERENCE_PATH, 'utf8'), REGENERATE).toBe(reference);
  });

  it('has a table for every action and every server frame', async () => {
    const reference = await readFile(REFERENCE_PATH, 'utf8');

    for (const action of ROUTED_ACTIONS) {
      expect(reference).toContain(`<!-- table: ${CLIENT_FRAME_NAMES[action]} -->`);
      expect(reference).toContain(`### \`${action}\``);
    }
    for (const type of Object.keys(SERVER_FRAME_SCHEMAS) as Array<keyof typeof SERVER_FRAME_NAMES>) {
      expect(reference).toContain(`<!-- table: ${SERVER_FRAME_NAMES[type]} -->`);
    }
    expect(Object.keys(CLIENT_FRAME_SCHEMAS).sort()).toEqual([...ROUTED_ACTIONS].sort());
  });

  it('lists every field with its type, whether it is required, and its limits', async () => {
    const reference = await readFile(REFERENCE_PATH, 'utf8');

    expect(rowOf(reference, 'SyncFrame', 'limit')).toEqual([
      'integer',
      'no',
      '1 to 200; default 100; messages at most',
    ]);
    expect(rowOf(reference, 'SyncFrame', 'afterSeq')?.slice(0, 3)).toEqual([
      'integer',
      'yes',
      '0 or more; the answer holds the messages after it',
    ]);
    expect(rowOf(reference, 'SubscribePresenceFrame', 'userIds')).toEqual([
      'array of string',
      'yes',
      '1 to 100 items; each 1 to 64 characters of `[A-Za-z0-9_-]`',
    ]);
    expect(rowOf(reference, 'UserPresence', 'lastSeen')?.slice(0, 2)).toEqual(['integer or null', 'yes']);
    expect(rowOf(reference, 'TypingFrame', 'requestId')?.slice(0, 2)).toEqual(['string', 'no']);
  });

  it('puts back a table that was edited by hand', async () => {
    const reference = await readFile(REFERENCE_PATH, 'utf8');
    const edited = reference.replace('| `body` ', '| `text` ');

    expect(edited).not.toBe(reference);
    expect(renderReference(edited, protocolJsonSchemas())).toBe(reference);
  });

  it('refuses a page that leaves out the table of a frame', async () => {
    const reference = await readFile(REFERENCE_PATH, 'utf8');
    const withoutPing = reference.replace(/<!-- table: PingFrame -->\n[\s\S]*?<!-- \/table -->/, '');

    expect(() => renderReference(withoutPing, protocolJsonSchemas())).toThrow(
      'the reference has no table of PingFrame',
    );
  });

  it('refuses a page with a table of a frame the protocol does not define', async () => {
    const reference = await readFile(REFERENCE_PATH, 'utf8');
    const withReactions = `${reference}\n<!-- table: ReactionFrame -->\n<!-- /table -->\n`;

    expect(() => renderReference(withReactions, protocolJsonSchemas())).toThrow(
      'the reference has a table of ReactionFrame, which the protocol does not define',
    );
  });

  it('refuses a page with two tables of one frame', async () => {
    const reference = await readFile(REFERENCE_PATH, 'utf8');
    const twice = `${reference}\n<!-- table: ${ERROR_CODES_TABLE} -->\n<!-- /table -->\n`;

    expect(() => renderReference(twice, protocolJsonSchemas())).toThrow(
      `the reference has two tables of ${ERROR_CODES_TABLE}`,
    );
  });
});

// The official parser loads its rulesets on first use: seconds on a busy machine.
describe('the AsyncAPI document', { timeout: 30_000 }, () => {
  it('is what the schemas give, as committed', async () => {
    const { asyncApi } = await generateProtocolDocs();

    expect(await readFile(ASYNCAPI_PATH, 'utf8'), REGENERATE).toBe(asyncApi);
  });

  it('is a valid AsyncAPI 3.0 document for the official parser', async () => {
    expect(await asyncApiErrors(await readFile(ASYNCAPI_PATH, 'utf8'))).toEqual([]);
  });

  it('sends every action and receives every server frame', async () => {
    const document = parseYaml(await readFile(ASYNCAPI_PATH, 'utf8')) as {
      operations: Record<string, { action: string; messages: Array<{ $ref: string }> }>;
    };
    const operated = (action: string) =>
      Object.values(document.operations)
        .filter((operation) => operation.action === action)
        .flatMap((operation) => operation.messages.map(({ $ref }) => $ref.split('/').at(-1)));

    expect(operated('send').sort()).toEqual(Object.values(CLIENT_FRAME_NAMES).sort());
    expect(operated('receive').sort()).toEqual(Object.values(SERVER_FRAME_NAMES).sort());
  });

  it('is refused by the parser when an operation names a channel that does not exist', async () => {
    const broken = renderAsyncApi(protocolJsonSchemas()).replace(
      '$ref: "#/channels/parley"',
      '$ref: "#/channels/nowhere"',
    );

    expect(await asyncApiErrors(broken)).not.toEqual([]);
  });
});
