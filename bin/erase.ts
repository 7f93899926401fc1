/**
 * `npm run erase -- --user alice`: erases a user (docs/adr/0015-retention-and-erasure.md).
 * Closes its connections, deletes its conversation list, presence, presence
 * subscriptions and push registrations (with their SNS platform endpoints), and replaces the text it sent with a tombstone wherever it is stored.
 * Running it again is harmless, and finishes a run that stopped midway.
 *
 * Against the local stack (the default): `--dynamodb-endpoint` as `npm start` prints it, the
 * gateway's `@connections` on http://127.0.0.1:3001 and the tables `parley-*` unless told
 * otherwise. Against AWS: `--outputs` names the file `cdk deploy --outputs-file` wrote (the
 * tables and the `@connections` endpoint are its outputs), with your AWS credentials.
 * Exits 0 when done, 1 when a step failed (run it again), 2 for a wrong argument.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { ID_RULE_MESSAGE, userIdSchema } from '@parley/protocol';
import { resourceNames, TABLE_NAME_FIELDS, TABLES } from '../definitions/tables.js';
import { type AwsEndpoints, createAwsClients } from '../lambdas/adapters/aws-clients.js';
import { type ErasureTableNames, userErasureSteps } from '../lambdas/adapters/dynamodb-user-erasure.js';
import { regionOfConnectionsEndpoint } from '../lambdas/config.js';
import { eraseUser } from '../lambdas/domain/erasure.js';

const USAGE = `usage: npm run erase -- --user <userId>
  local stack:  --dynamodb-endpoint <url, as npm start prints it> [--connections-endpoint http://127.0.0.1:3001] [--prefix parley]
  AWS:          --outputs <cdk outputs file> [--stack <stack name>] [--region <region>]
  a user id ${ID_RULE_MESSAGE}`;

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

function parse() {
  try {
    return parseArgs({
      options: {
        user: { type: 'string' },
        'dynamodb-endpoint': { type: 'string' },
        'connections-endpoint': { type: 'string', default: 'http://127.0.0.1:3001' },
        prefix: { type: 'string', default: 'parley' },
        outputs: { type: 'string' },
        stack: { type: 'string' },
        region: { type: 'string' },
      },
    }).values;
  } catch (error) {
    return fail(`${(error as Error).message}\n${USAGE}`);
  }
}

/** `ConversationsTableName` … and `ConnectionsEndpoint` from a `cdk deploy --outputs-file` file. */
async function fromOutputs(file: string, stack: string | undefined, region: string | undefined) {
  const all = JSON.parse(await readFile(file, 'utf8')) as Record<string, Record<string, string>>;
  const stackName = stack ?? Object.keys(all).find((name) => all[name]?.ConversationsTableName);
  const outputs = stackName ? all[stackName] : undefined;
  if (!outputs) return fail(`${file} holds no Parley stack's outputs${stack ? ` named ${stack}` : ''}`);
  const pascal = (id: string) =>
    id.replace(/(^|-)(\w)/g, (_match, _dash, letter: string) => letter.toUpperCase());
  const names = Object.fromEntries(
    TABLES.map((table) => {
      const value = outputs[`${pascal(table.id)}TableName`];
      if (!value) fail(`${file}: no ${pascal(table.id)}TableName output`);
      return [TABLE_NAME_FIELDS[table.id], value];
    }),
  ) as ErasureTableNames;
  const connections = outputs.ConnectionsEndpoint ?? fail(`${file}: no ConnectionsEndpoint output`);
  const endpoints: AwsEndpoints = {
    region: region ?? process.env.AWS_REGION ?? regionOfConnectionsEndpoint(connections) ?? 'us-east-1',
    connections,
  };
  return { names, endpoints };
}

const values = parse();
const userId = values.user;
if (!userId || !userIdSchema.safeParse(userId).success) fail(USAGE);
let target: { names: ErasureTableNames; endpoints: AwsEndpoints };
if (values.outputs) {
  target = await fromOutputs(values.outputs, values.stack, values.region);
} else {
  const dynamodb = values['dynamodb-endpoint'] ?? process.env.PARLEY_DYNAMODB_ENDPOINT;
  if (!dynamodb) fail(`the local stack's DynamoDB endpoint is needed (npm start prints it)\n${USAGE}`);
  target = {
    names: resourceNames(values.prefix),
    endpoints: { region: 'us-east-1', local: true, dynamodb, connections: values['connections-endpoint'] },
  };
}

const clients = createAwsClients(target.endpoints);
try {
  // Blocks (issue 15, part c) add their step here; push registrations are one of userErasureSteps'.
  await eraseUser(userId, userErasureSteps(clients, target.names), (step, items) =>
    console.log(`${step}: ${items} item(s)`),
  );
  console.log(`erased ${userId}. Run it again after the stream's retention if the user was still sending.`);
} catch (error) {
  console.error(`the erasure of ${userId} stopped: ${(error as Error).message}; run it again to finish it`);
  process.exitCode = 1;
} finally {
  clients.destroy();
}
