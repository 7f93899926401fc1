/** `npm run disconnect`: an operator ends every connection of a user at once. */
import { spawn } from 'node:child_process';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createAwsClients } from '../../lambdas/adapters/aws-clients.js';
import type { RunningLocalStack } from '../../local/stack.js';
import { nodeArgsOfScript, REPOSITORY_ROOT } from '../support/npm-script.js';
import { connectAs, startTestStack, uniqueId } from '../support/stack.js';

/** Runs the command to its end, with its exit code and what it printed. */
function runDisconnect(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [...nodeArgsOfScript('disconnect'), ...args], {
    cwd: REPOSITORY_ROOT,
    env: { ...process.env, PARLEY_DYNAMODB_ENDPOINT: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('npm run disconnect', () => {
  let stack: RunningLocalStack;
  let clients: ReturnType<typeof createAwsClients>;
  beforeAll(async () => {
    stack = await startTestStack();
    clients = createAwsClients({ region: 'us-east-1', local: true, dynamodb: inject('dynamodbEndpoint') });
  });
  afterAll(async () => {
    clients?.destroy();
    await stack?.stop();
  });

  const targetArgs = () => [
    '--dynamodb-endpoint',
    inject('dynamodbEndpoint'),
    '--table',
    stack.config.names.connectionsTable,
    '--endpoint',
    stack.managementEndpoint,
  ];

  it('ends both of alice’s devices’ connections now, and leaves bob’s open', async () => {
    // prepare
    const alice = uniqueId('alice');
    const bob = uniqueId('bob');
    const phone = await connectAs(stack, alice, 'phone');
    const laptop = await connectAs(stack, alice, 'laptop');
    const bobPhone = await connectAs(stack, bob, 'phone');

    // act
    const run = await runDisconnect(['--user', alice, ...targetArgs()]);

    // assess
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`${alice}: 2 connections ended`);
    expect(run.stdout.match(/ closed$/gm)).toHaveLength(2);
    await Promise.all([phone.closed, laptop.closed]);
    expect(await bobPhone.request({ action: 'ping', requestId: 'p1' })).toEqual({
      type: 'pong',
      requestId: 'p1',
    });
    await bobPhone.close();
  });

  it('removes the item of a connection that had already ended, which @connections answers 410', async () => {
    // prepare: an item left behind by a connection whose $disconnect never came
    const alice = uniqueId('alice');
    const tableName = stack.config.names.connectionsTable;
    const stale = { userId: alice, connectionId: 'Zm9yZ290dGVuPQ=', deviceId: 'tablet' };
    await clients.dynamodb.send(
      new PutCommand({ TableName: tableName, Item: { ...stale, connectedAt: 0, expiresAt: 1 } }),
    );

    // act
    const run = await runDisconnect(['--user', alice, ...targetArgs()]);

    // assess
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`${stale.connectionId}  tablet  already gone (410)`);
    expect(run.stdout).toContain(`${alice}: 1 connection ended`);
    const left = await clients.dynamodb.send(
      new GetCommand({ TableName: tableName, Key: { userId: alice, connectionId: stale.connectionId } }),
    );
    expect(left.Item).toBeUndefined();
  });

  it.each([
    [[], '--user: give the user whose connections to end'],
    [['--user', 'not a user'], '--user: give the user whose connections to end'],
    [['--user', 'alice'], '--dynamodb-endpoint: npm start prints it'],
    [['--user', 'alice', '--aws', '--table', 't'], '--aws needs --table and --endpoint'],
    [['--user', 'alice', '--colour'], "Unknown option '--colour'"],
  ])('refuses %j with exit code 2 and says what is missing', async (args, message) => {
    const run = await runDisconnect(args);

    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
    expect(run.stderr).toContain('usage: npm run disconnect -- --user <userId>');
  });

  it('fails with exit code 1 and the reason when the connections table cannot be read', async () => {
    const run = await runDisconnect([
      '--user',
      'alice',
      ...targetArgs().slice(0, 2),
      '--table',
      'no-such-table',
      '--endpoint',
      stack.managementEndpoint,
    ]);

    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^could not end alice's connections: .*(non-existent|not found)/i);
  });
});
