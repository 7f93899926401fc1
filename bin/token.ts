/** `npm run token -- alice [--expires-in 1h]`: prints a dev token for the local stack. */
import { parseArgs } from 'node:util';
import { LOCAL_JWT_SECRET } from '../lambdas/config.js';
import { userIdSchema } from '../lambdas/domain/protocol.js';
import { mintToken } from '../lambdas/domain/tokens.js';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { 'expires-in': { type: 'string', default: '24h' } },
});
const userId = positionals[0];
if (!userId || !userIdSchema.safeParse(userId).success) {
  console.error('usage: npm run token -- <userId> [--expires-in 24h]');
  console.error('a user id is 1 to 64 characters of A-Z, a-z, 0-9, _ or -');
  process.exit(2);
}
const secret = process.env.PARLEY_JWT_SECRET ?? LOCAL_JWT_SECRET;
console.log(await mintToken(userId, secret, { expiresIn: values['expires-in'] }));
