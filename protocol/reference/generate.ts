/**
 * `npm run docs:protocol`: renders the frame tables of docs/protocol.md and writes
 * docs/asyncapi.yaml, both from the protocol's zod schemas.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { renderAsyncApi } from './asyncapi.js';
import { renderReference } from './frame-tables.js';
import { protocolJsonSchemas } from './json-schemas.js';

export const REFERENCE_PATH = fileURLToPath(new URL('../../docs/protocol.md', import.meta.url));
export const ASYNCAPI_PATH = fileURLToPath(new URL('../../docs/asyncapi.yaml', import.meta.url));

/** The reference and the AsyncAPI document as they should be committed. */
export async function generateProtocolDocs(): Promise<{ reference: string; asyncApi: string }> {
  const schemas = protocolJsonSchemas();
  const reference = renderReference(await readFile(REFERENCE_PATH, 'utf8'), schemas);
  return { reference, asyncApi: renderAsyncApi(schemas) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { reference, asyncApi } = await generateProtocolDocs();
  await writeFile(REFERENCE_PATH, reference);
  await writeFile(ASYNCAPI_PATH, asyncApi);
  console.log(`wrote ${REFERENCE_PATH} and ${ASYNCAPI_PATH}`);
}
