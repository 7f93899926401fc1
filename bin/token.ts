/**
 * `npm run token -- alice [--expires-in 24h]`: prints an HS256 token for a user, signed
 * with the local stack's key, with `PARLEY_JWT_SECRET`, or, for a deployed stack, with the
 * key in its Secrets Manager secret (`--secret-arn`, the stack's TokenSigningKeyArn output;
 * this reads it with your AWS credentials).
 */
import { parseArgs } from 'node:util';
import { ID_RULE_MESSAGE, userIdSchema } from '@parley/protocol';
import { LOCAL_JWT_SECRET } from '../lambdas/config.js';
import { mintToken } from '../lambdas/domain/tokens.js';
import { readSigningKey, SigningKeyError } from './signing-key.js';

const USAGE = `usage: npm run token -- <userId> [--expires-in 24h] [--secret-arn <arn>] [--issuer <iss>] [--audience <aud>]
  a user id ${ID_RULE_MESSAGE}`;

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

let parsed: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    allowPositionals: true,
    options: {
      'expires-in': { type: 'string', default: '24h' },
      'secret-arn': { type: 'string' },
      issuer: { type: 'string' },
      audience: { type: 'string' },
    },
  });
}
try {
  parsed = parse();
} catch (error) {
  fail(`${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
}
const { positionals, values } = parsed;
const userId = positionals[0];
if (!userId || !userIdSchema.safeParse(userId).success) fail(USAGE);

async function signingKey(): Promise<string> {
  const secretArn = values['secret-arn'];
  if (!secretArn) return process.env.PARLEY_JWT_SECRET ?? LOCAL_JWT_SECRET;
  try {
    return await readSigningKey(secretArn);
  } catch (error) {
    if (error instanceof SigningKeyError) fail(error.message);
    throw error;
  }
}

console.log(
  await mintToken(userId, await signingKey(), {
    expiresIn: values['expires-in'],
    ...(values.issuer ? { issuer: values.issuer } : {}),
    ...(values.audience ? { audience: values.audience } : {}),
  }),
);
