import { describe, expect, it } from 'vitest';
import {
  connectionMethodsOf,
  FUNCTIONS,
  type FunctionDefinition,
  type FunctionId,
  requiredVariablesOf,
  tablesOf,
} from '../../definitions/functions.js';
import {
  environmentVariableName,
  TABLE_NAME_FIELDS,
  TABLES,
  type TableId,
} from '../../definitions/tables.js';
import { functionResource, permissionsOf } from './support/permissions.js';
import { DEV_CONTEXT, PROD_CONTEXT, synthesize } from './support/synthesize.js';

const dev = synthesize(DEV_CONTEXT);
const prod = synthesize(PROD_CONTEXT);

function signingKey() {
  const key = dev.stack.tokenSigningKey;
  if (!key) throw new Error('the dev stack generates its token signing key');
  return key;
}

const tableArn = (deployment: typeof dev, tableId: TableId) =>
  JSON.stringify({ 'Fn::GetAtt': [deployment.logicalId(deployment.stack.data.tables[tableId]), 'Arn'] });

/** The DynamoDB permissions a function holds, as `table: action` lines (indexes as `table/index/name`). */
function tablePermissionsOf(deployment: typeof dev, id: FunctionId): string[] {
  const names = new Map(
    TABLES.map((table) => [deployment.logicalId(deployment.stack.data.tables[table.id]), table.id]),
  );
  return permissionsOf(deployment, id)
    .filter(({ action }) => action.startsWith('dynamodb:'))
    .map(({ action, resource }) => {
      const logicalId = /"(Data\w+Table\w+)"/.exec(resource)?.[1] ?? '?';
      const index = /\/index\/(\w+)/.exec(resource)?.[1];
      return `${names.get(logicalId)}${index ? `/index/${index}` : ''}: ${action.replace('dynamodb:', '')}`;
    })
    .sort();
}

/** The functions whose environment has `variable`, each with its value. */
function functionsGiven(deployment: typeof dev, variable: string): Array<[FunctionId, unknown]> {
  return FUNCTIONS.flatMap(({ id }): Array<[FunctionId, unknown]> => {
    const value = functionResource(deployment, id).Properties.Environment.Variables[variable];
    return value ? [[id, value]] : [];
  });
}

describe('the functions', () => {
  it('are one per handler of definitions/functions.ts', () => {
    dev.template.resourceCountIs('AWS::Lambda::Function', FUNCTIONS.length);
    for (const { id } of FUNCTIONS) {
      expect(functionResource(dev, id).Properties.Description).toBe(`Parley dev: lambdas/handlers/${id}.ts`);
    }
  });

  it.each(FUNCTIONS.map((fn) => [fn.id, fn] as const))(
    '%s runs on Node.js 22, arm64, with its memory, timeout and JSON logs in a log group of its own',
    (id, definition) => {
      const { Properties } = functionResource(dev, id);
      expect(Properties).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        MemorySize: definition.memoryMiB,
        Timeout: definition.timeoutSeconds,
        LoggingConfig: { LogFormat: 'JSON' },
      });
      const logGroupId = Properties.LoggingConfig.LogGroup.Ref as string;
      const logGroup = dev.template.toJSON().Resources[logGroupId];
      expect(logGroup).toMatchObject({ Type: 'AWS::Logs::LogGroup', Properties: { RetentionInDays: 30 } });
      expect(logGroup.DeletionPolicy).toBe('Delete');
      expect(
        prod.template.toJSON().Resources[functionResource(prod, id).Properties.LoggingConfig.LogGroup.Ref]
          .DeletionPolicy,
      ).toBe('Retain');
    },
  );

  it.each(FUNCTIONS.map((fn) => [fn.id, fn] as const))(
    '%s is given exactly the settings lambdas/config.ts requires of it, and its metrics service',
    (id, definition) => {
      const variables = functionResource(dev, id).Properties.Environment.Variables as Record<string, unknown>;
      const tokenVariables = [
        'PARLEY_JWT_SECRET_ARN',
        'PARLEY_JWKS_URL',
        'PARLEY_JWT_ISSUER',
        'PARLEY_JWT_AUDIENCE',
        'PARLEY_MAX_TOKEN_AGE_SECONDS',
        'PARLEY_ALLOWED_ORIGINS',
        // A setting with a default, not a resource: see the connection cap's own test below.
        'PARLEY_MAX_CONNECTIONS_PER_USER',
      ];
      const resourceVariables = Object.keys(variables).filter(
        (name) => name.startsWith('PARLEY_') && !tokenVariables.includes(name),
      );

      expect(resourceVariables.sort()).toEqual(requiredVariablesOf(definition).sort());
      for (const table of tablesOf(definition)) {
        expect(variables[environmentVariableName(TABLE_NAME_FIELDS[table])]).toEqual({
          Ref: dev.logicalId(dev.stack.data.tables[table]),
        });
      }
      if ('publishes' in definition) {
        expect(variables.PARLEY_EVENTS_STREAM).toEqual({ Ref: dev.logicalId(dev.stack.data.stream) });
      }
      if (connectionMethodsOf(definition).length > 0) {
        expect(JSON.stringify(variables.PARLEY_CONNECTIONS_ENDPOINT)).toMatch(
          /https:\/\/.*execute-api.*\/dev/,
        );
      }
      expect(variables).toMatchObject({
        POWERTOOLS_SERVICE_NAME: 'parley-dev',
        POWERTOOLS_METRICS_NAMESPACE: 'Parley',
        NODE_OPTIONS: '--enable-source-maps',
      });
    },
  );

  it('gives only the send function the fast path setting, from the context', () => {
    const given = (deployment: typeof dev) => functionsGiven(deployment, 'FAST_PATH_MAX_CONNECTIONS');
    const off = synthesize({ ...DEV_CONTEXT, fastPathMaxConnections: '0' });

    expect(given(dev)).toEqual([['send', '16']]);
    expect(given(off)).toEqual([['send', '0']]);
  });

  it('gives only the connect function the connection cap, from the context', () => {
    const given = (deployment: typeof dev) => functionsGiven(deployment, 'PARLEY_MAX_CONNECTIONS_PER_USER');
    const three = synthesize({ ...DEV_CONTEXT, maxConnectionsPerUser: '3' });

    expect(given(dev)).toEqual([['connect', '10']]);
    expect(given(three)).toEqual([['connect', '3']]);
  });

  it('sends Lambda’s own log records at WARN by default, in JSON, and at the level the context gives', () => {
    const loggingOf = (deployment: typeof dev) =>
      new Set(
        FUNCTIONS.map(({ id }) => {
          const { LogFormat, SystemLogLevel } = functionResource(deployment, id).Properties.LoggingConfig;
          return `${LogFormat} ${SystemLogLevel}`;
        }),
      );
    const info = synthesize({ ...DEV_CONTEXT, lambdaSystemLogLevel: 'INFO' });

    expect(loggingOf(dev)).toEqual(new Set(['JSON WARN']));
    expect(loggingOf(info)).toEqual(new Set(['JSON INFO']));
  });

  it('gives every function the retention period from the context, and none without it', () => {
    const retentionOf = (deployment: typeof dev) =>
      new Set(
        FUNCTIONS.map(
          ({ id }) =>
            functionResource(deployment, id).Properties.Environment.Variables.PARLEY_MESSAGE_RETENTION_DAYS,
        ),
      );
    const retained = synthesize({ ...DEV_CONTEXT, messageRetentionDays: '30' });

    expect(retentionOf(dev)).toEqual(new Set([undefined]));
    expect(retentionOf(retained)).toEqual(new Set(['30']));
  });

  it('gives only the authorizer the token settings: the generated key in dev, the issuer’s JWKS in prod', () => {
    for (const { id } of FUNCTIONS) {
      const variables = functionResource(dev, id).Properties.Environment.Variables;
      const tokenVariables = Object.keys(variables).filter(
        (name) => name.startsWith('PARLEY_JWT') || name === 'PARLEY_JWKS_URL',
      );
      expect(tokenVariables, id).toEqual(id === 'authorizer' ? ['PARLEY_JWT_SECRET_ARN'] : []);
    }
    expect(
      functionResource(dev, 'authorizer').Properties.Environment.Variables.PARLEY_JWT_SECRET_ARN,
    ).toEqual({
      Ref: dev.logicalId(signingKey()),
    });
    expect(functionResource(prod, 'authorizer').Properties.Environment.Variables).toMatchObject({
      PARLEY_JWKS_URL: PROD_CONTEXT.jwksUrl,
      PARLEY_JWT_ISSUER: PROD_CONTEXT.jwtIssuer,
      PARLEY_JWT_AUDIENCE: PROD_CONTEXT.jwtAudience,
      PARLEY_MAX_TOKEN_AGE_SECONDS: '86400',
      PARLEY_ALLOWED_ORIGINS: PROD_CONTEXT.allowedOrigins,
    });
    expect(
      functionResource(dev, 'authorizer').Properties.Environment.Variables.PARLEY_ALLOWED_ORIGINS,
    ).toBeUndefined();
    expect(
      functionResource(prod, 'authorizer').Properties.Environment.Variables.PARLEY_JWT_SECRET_ARN,
    ).toBeUndefined();
    prod.template.resourceCountIs('AWS::SecretsManager::Secret', 0);
  });
});

describe('least privilege', () => {
  it('gives every function a role of its own, with no managed policy', () => {
    const roles = new Set(
      FUNCTIONS.map(({ id }) => functionResource(dev, id).Properties.Role['Fn::GetAtt'][0]),
    );
    expect(roles.size).toBe(FUNCTIONS.length);
    for (const roleId of roles) {
      const role = dev.template.toJSON().Resources[roleId];
      expect(role.Properties.ManagedPolicyArns).toBeUndefined();
      expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
        { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } },
      ]);
    }
  });

  it.each(FUNCTIONS.map((fn) => [fn.id, fn] as const))(
    '%s may take exactly the DynamoDB actions its definition lists, on those tables only',
    (id, definition) => {
      const onTables = Object.entries(
        definition.tables as Partial<Record<TableId, readonly string[]>>,
      ).flatMap(([tableId, actions = []]) => actions.map((action) => `${tableId}: ${action}`));
      const onIndexes = Object.entries(
        ((definition as FunctionDefinition).indexQueries ?? {}) as Partial<
          Record<TableId, readonly string[]>
        >,
      ).flatMap(([tableId, indexNames = []]) =>
        indexNames.map((indexName) => `${tableId}/index/${indexName}: Query`),
      );
      const expected = [...onTables, ...onIndexes].sort();
      expect(tablePermissionsOf(dev, id)).toEqual(expected);
    },
  );

  it('lets the conversations route query the list index and batch-read the list table (the user’s clock), and count its rate, nothing more', () => {
    expect(tablePermissionsOf(dev, 'conversations').sort()).toEqual([
      'rate-limits: UpdateItem',
      'user-conversations/index/byUpdatedAt: Query',
      'user-conversations: BatchGetItem',
    ]);
  });

  it('keeps the read-only routes from writing any table but their per-user rate counter', () => {
    const writes = /: (PutItem|UpdateItem|DeleteItem|BatchWriteItem)$/;
    for (const id of ['sync', 'conversations', 'authorizer', 'default', 'blocks'] as const) {
      expect(
        tablePermissionsOf(dev, id).filter((line) => writes.test(line) && line !== 'rate-limits: UpdateItem'),
        id,
      ).toEqual([]);
    }
    // The sender writes the conversation's own items, and deletes a connection its fast path
    // found gone (docs/adr/0008-fast-path.md); lists are the fanout's. It reads the two
    // members' blocks there (protocol 1.3), and only reads them.
    expect(tablePermissionsOf(dev, 'send').filter((line) => line.startsWith('user-conversations:'))).toEqual([
      'user-conversations: BatchGetItem',
    ]);
  });

  it('lets no function scan, or take every action of a table', () => {
    for (const { id } of FUNCTIONS) {
      for (const { action } of permissionsOf(dev, id)) {
        expect(action, id).not.toMatch(/\*|Scan|DeleteTable|UpdateTable/);
      }
    }
  });

  it('lets only the functions that publish put records, on the events stream only', () => {
    const streamArn = JSON.stringify({ 'Fn::GetAtt': [dev.logicalId(dev.stack.data.stream), 'Arn'] });
    for (const definition of FUNCTIONS) {
      const puts = permissionsOf(dev, definition.id).filter(({ action }) => /^kinesis:Put/.test(action));
      expect(puts, definition.id).toEqual(
        'publishes' in definition && definition.publishes
          ? [{ action: 'kinesis:PutRecord', resource: streamArn }]
          : [],
      );
    }
  });

  it('lets only the functions that post or close connections manage them: that method, on this API and stage only', () => {
    const apiId = dev.logicalId(dev.stack.api.webSocketApi);
    for (const definition of FUNCTIONS) {
      const grants = permissionsOf(dev, definition.id).filter(({ action }) =>
        action.startsWith('execute-api:'),
      );
      const methods = connectionMethodsOf(definition);
      expect(grants, definition.id).toHaveLength(methods.length);
      for (const [index, method] of methods.entries()) {
        expect(grants[index]?.action).toBe('execute-api:ManageConnections');
        expect(grants[index]?.resource).toContain(`{"Ref":"${apiId}"},"/dev/${method}/@connections/*"`);
      }
    }
    expect(
      FUNCTIONS.filter((definition) => connectionMethodsOf(definition).includes('DELETE')).map(
        ({ id }) => id,
      ),
    ).toEqual(['connect']);
  });

  it('lets each function write its own log group and no other', () => {
    for (const { id } of FUNCTIONS) {
      const logGroupId = functionResource(dev, id).Properties.LoggingConfig.LogGroup.Ref;
      const logs = permissionsOf(dev, id).filter(({ action }) => action.startsWith('logs:'));
      expect(logs.map(({ action }) => action).sort()).toEqual(['logs:CreateLogStream', 'logs:PutLogEvents']);
      for (const { resource } of logs)
        expect(resource).toBe(JSON.stringify({ 'Fn::GetAtt': [logGroupId, 'Arn'] }));
    }
  });

  it('lets only the authorizer read the token signing key', () => {
    const secret = JSON.stringify({ Ref: dev.logicalId(signingKey()) });
    for (const { id } of FUNCTIONS) {
      const reads = permissionsOf(dev, id).filter(({ action }) => action.startsWith('secretsmanager:'));
      if (id === 'authorizer') {
        expect(reads).toEqual([{ action: 'secretsmanager:GetSecretValue', resource: secret }]);
      } else {
        expect(reads, id).toEqual([]);
      }
    }
  });

  it('reads the stream only from the three consumers, and writes it from the fanout only, for the slices of a large group', () => {
    const consumers: FunctionId[] = ['fanout', 'presence-notifier', 'push-notifier'];
    for (const { id } of FUNCTIONS) {
      const reads = permissionsOf(dev, id).filter(({ action }) =>
        /^kinesis:(GetRecords|SubscribeToShard)$/.test(action),
      );
      expect(reads.length > 0, id).toBe(consumers.includes(id));
    }
    for (const id of ['presence-notifier', 'push-notifier'] as const) {
      expect(
        permissionsOf(dev, id).some(({ action }) => /^kinesis:Put/.test(action)),
        id,
      ).toBe(false);
    }
    // A slice is posted, never sliced again: the fanout's records never feed themselves.
    expect(
      permissionsOf(dev, 'fanout')
        .filter(({ action }) => /^kinesis:Put/.test(action))
        .map(({ action }) => action),
    ).toEqual(['kinesis:PutRecord']);
  });

  it('refers to each table it uses by its own ARN', () => {
    const fanout = permissionsOf(dev, 'fanout').filter(({ action }) => action === 'dynamodb:PutItem');
    expect(fanout).toEqual([{ action: 'dynamodb:PutItem', resource: tableArn(dev, 'user-conversations') }]);
  });
});
