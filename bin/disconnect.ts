/**
 * `npm run disconnect -- --user alice`: ends every connection of a user now, and says what
 * became of each. API Gateway keeps a connection open for up to two hours after its token
 * expires; this is how an operator ends one sooner (docs/adr/0014-token-policy.md).
 *
 * Against the local stack by default: its connections table (`parley-connections`), its
 * `@connections` endpoint (PARLEY_WS_PORT, 3001), and DynamoDB Local's endpoint, which
 * `npm start` prints (`--dynamodb-endpoint` or PARLEY_DYNAMODB_ENDPOINT). With `--aws`,
 * against a deployed stack with your AWS credentials: `--table` (the stack's
 * ConnectionsTableName output) and `--endpoint` (its ConnectionsEndpoint output).
 */
import { parseArgs } from 'node:util';
import { ID_RULE_MESSAGE, userIdSchema } from '@parley/protocol';
import { createAwsClients } from '../lambdas/adapters/aws-clients.js';
import { regionOfConnectionsEndpoint } from '../lambdas/config.js';
import { disconnectUser } from './disconnect-user.js';

const USAGE = `usage: npm run disconnect -- --user <userId> [--dynamodb-endpoint <url>] [--table <name>] [--endpoint <url>]
       npm run disconnect -- --user <userId> --aws --table <ConnectionsTableName> --endpoint <ConnectionsEndpoint> [--region <region>]
  a user id ${ID_RULE_MESSAGE}`;

function fail(message: string): never {
  console.error(`${message}\n${USAGE}`);
  process.exit(2);
}

function parse() {
  try {
    return parseArgs({
      options: {
        user: { type: 'string' },
        aws: { type: 'boolean', default: false },
        table: { type: 'string' },
        endpoint: { type: 'string' },
        'dynamodb-endpoint': { type: 'string' },
        region: { type: 'string' },
      },
    }).values;
  } catch (error) {
    return fail(error instanceof Error ? error.message : String(error));
  }
}

// The SDK's notice about its future Node 22 requirement would drown the command's answer.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const values = parse();
const userId = userIdSchema.safeParse(values.user);
if (!userId.success) fail('--user: give the user whose connections to end');

function awsTargets() {
  if (!values.table || !values.endpoint) fail('--aws needs --table and --endpoint (the stack’s outputs)');
  const region = values.region ?? regionOfConnectionsEndpoint(values.endpoint) ?? process.env.AWS_REGION;
  if (!region) fail('--region: the endpoint names none and AWS_REGION is not set');
  return { region, connections: values.endpoint, table: values.table };
}

function localTargets() {
  const dynamodb = values['dynamodb-endpoint'] ?? process.env.PARLEY_DYNAMODB_ENDPOINT;
  if (!dynamodb) {
    fail(
      '--dynamodb-endpoint: npm start prints it on its "DynamoDB Local" line (its port changes at each start)',
    );
  }
  return {
    region: 'us-east-1',
    local: true,
    dynamodb,
    connections: values.endpoint ?? `http://127.0.0.1:${process.env.PARLEY_WS_PORT || 3001}`,
    table: values.table ?? 'parley-connections',
  };
}

const { table, ...endpoints } = values.aws ? awsTargets() : localTargets();
const clients = createAwsClients(endpoints);
try {
  const outcomes = await disconnectUser(
    { dynamodb: clients.dynamodb, connections: clients.connections, connectionsTableName: table },
    userId.data,
  );
  for (const { connectionId, deviceId, result } of outcomes) {
    console.log(
      `${connectionId}  ${deviceId || '-'}  ${result === 'closed' ? 'closed' : 'already gone (410)'}`,
    );
  }
  console.log(`${userId.data}: ${outcomes.length} connection${outcomes.length === 1 ? '' : 's'} ended`);
} catch (error) {
  console.error(
    `could not end ${userId.data}'s connections: ${error instanceof Error ? error.message : String(error)}`,
  );
  process.exitCode = 1;
} finally {
  clients.destroy();
}
