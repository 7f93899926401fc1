/**
 * The frame tables of docs/protocol.md, generated from the zod schemas: the prose around them
 * is written by hand, each table sits between `<!-- table: Name -->` and `<!-- /table -->`.
 * `npm run docs:protocol` rewrites them; a unit test fails when the committed page differs.
 */
import { ERROR_CODES, ERROR_MEANINGS, ID_PATTERN } from '@parley/protocol';
import { type JsonSchema, SCHEMA_REF_PREFIX } from './json-schemas.js';

/** The table of error codes, beside the tables of the frames and objects. */
export const ERROR_CODES_TABLE = 'ErrorCodes';

const TABLE = /<!-- table: (\w+) -->\n[\s\S]*?<!-- \/table -->/g;

const escapeCell = (text: string) => text.replaceAll('|', '\\|');

/** A markdown table with its columns padded, so that it reads as a table in the source too. */
function renderTable(header: string[], rows: string[][]): string {
  const widths = header.map((cell, column) =>
    Math.max(cell.length, ...rows.map((row) => row[column]?.length ?? 0)),
  );
  const line = (cells: string[]) =>
    `| ${cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join(' | ')} |`;
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)].join('\n');
}

function typeOf(schema: JsonSchema): string {
  if (schema.$ref) return `\`${schema.$ref.slice(SCHEMA_REF_PREFIX.length)}\``;
  if (schema.const !== undefined) return `\`${JSON.stringify(schema.const)}\``;
  if (schema.enum) return schema.enum.map((value) => `\`${JSON.stringify(value)}\``).join(' or ');
  if (schema.anyOf) return schema.anyOf.map(typeOf).join(' or ');
  if (schema.oneOf) return schema.oneOf.map(typeOf).join(' or ');
  if (schema.type === 'array' && schema.items) return `array of ${typeOf(schema.items)}`;
  return [schema.type ?? 'any'].flat().join(' or ');
}

function range(min: number | undefined, max: number | undefined, unit: string): string | undefined {
  // Zod bounds every integer by the largest safe one, which says nothing to a reader.
  const upper = max === Number.MAX_SAFE_INTEGER ? undefined : max;
  if (min !== undefined && upper !== undefined) return `${min} to ${upper}${unit}`;
  if (upper !== undefined) return `at most ${upper}${unit}`;
  if (min !== undefined && min > 0) return `${min}${unit} or more`;
  if (min === 0 && unit === '') return '0 or more';
  return undefined;
}

function ruleOf(schema: JsonSchema): string {
  const rules = [
    schema.pattern === ID_PATTERN.source ? '1 to 64 characters of `[A-Za-z0-9_-]`' : undefined,
    schema.pattern !== undefined && schema.pattern !== ID_PATTERN.source
      ? `matches \`${schema.pattern}\``
      : undefined,
    range(schema.minLength, schema.maxLength, ' characters'),
    range(schema.minimum, schema.maximum, ''),
    range(schema.minItems, schema.maxItems, ' items'),
    schema.items && ruleOf(schema.items) ? `each ${ruleOf(schema.items)}` : undefined,
    schema.default !== undefined ? `default ${JSON.stringify(schema.default)}` : undefined,
    schema.description,
  ];
  return rules.filter((rule) => rule !== undefined && rule !== '').join('; ');
}

/** The table of one object schema: a row per field with its type, whether it is required, and its rule. */
function renderFieldTable(schema: JsonSchema): string {
  const required = new Set(schema.required ?? []);
  const rows = Object.entries(schema.properties ?? {}).map(([field, property]) => [
    `\`${field}\``,
    escapeCell(typeOf(property)),
    required.has(field) ? 'yes' : 'no',
    escapeCell(ruleOf(property)),
  ]);
  return renderTable(['field', 'type', 'required', 'rule'], rows);
}

function renderErrorCodesTable(): string {
  const rows = ERROR_CODES.map((code) => [`\`${code}\``, escapeCell(ERROR_MEANINGS[code])]);
  return renderTable(['code', 'when, and what a client does'], rows);
}

/**
 * The page with every table rendered anew from the schemas. Refuses a page that leaves out a
 * frame or object, or names one the protocol does not have, so that the reference covers
 * every frame and only those.
 */
export function renderReference(markdown: string, schemas: Record<string, JsonSchema>): string {
  const seen = new Set<string>();
  const rendered = markdown.replace(TABLE, (_block, name: string) => {
    if (seen.has(name)) throw new Error(`the reference has two tables of ${name}`);
    seen.add(name);
    const schema = schemas[name];
    if (name !== ERROR_CODES_TABLE && !schema)
      throw new Error(`the reference has a table of ${name}, which the protocol does not define`);
    const table = schema ? renderFieldTable(schema) : renderErrorCodesTable();
    return `<!-- table: ${name} -->\n${table}\n<!-- /table -->`;
  });
  const missing = [...Object.keys(schemas), ERROR_CODES_TABLE].filter((name) => !seen.has(name));
  if (missing.length > 0) throw new Error(`the reference has no table of ${missing.join(', ')}`);
  return rendered;
}
