import {
  DeleteCommand,
  GetCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { afterEach, describe, expect, it } from 'vitest';
import { configFromEnvironment } from '../../lambdas/config.js';
import { createConnectHandler } from '../../lambdas/handlers/connect.js';
import { createDefaultHandler } from '../../lambdas/handlers/default.js';
import { createDisconnectHandler } from '../../lambdas/handlers/disconnect.js';
import { createSendHandler } from '../../lambdas/handlers/send.js';
import type { WebSocketEvent } from '../../lambdas/middleware/websocket-route.js';
import {
  captureOutput,
  connectEvent,
  createTestDeps,
  disconnectEvent,
  invoke,
  lambdaContext,
  messageEvent,
  mockAwsClients,
  testConfig,
} from './support/harness.js';

const { ddb } = mockAwsClients();

let output: ReturnType<typeof captureOutput> | undefined;
afterEach(() => {
  output?.restore();
  output = undefined;
});

/** Deps that log at INFO, and the lines they print from now on. */
function logging(config = testConfig({ logLevel: 'INFO' })) {
  const { provider } = createTestDeps({ config });
  output = captureOutput();
  return { provider, lines: output.json };
}

const ALICE_PHONE = 'Jyw1ZebpoAMCKZQ=';
const BOB_TABLET = 'Jyw2BobTabletQ=';

/** A frame from bob's tablet rather than the fixture's alice's phone. */
function fromBobsTablet(frame: unknown): WebSocketEvent {
  const event = messageEvent(frame);
  event.requestContext.connectionId = BOB_TABLET;
  event.requestContext.authorizer = { principalId: 'bob', userId: 'bob', deviceId: 'tablet' };
  return event;
}

const sendFrame = (requestId: string, to: string) => ({
  action: 'send',
  requestId,
  to,
  clientMessageId: `cm-${requestId}`,
  body: 'hello',
});

function acceptSends() {
  ddb.on(QueryCommand).resolves({ Items: [{ seq: 2 }] });
  ddb.on(TransactWriteCommand).resolves({});
}

describe('the log lines of the WebSocket routes', () => {
  it('name the connection, the caller, the frame and the message on the line of a send', async () => {
    acceptSends();
    const { provider, lines } = logging();

    await invoke(createSendHandler(provider), messageEvent(sendFrame('r1', 'bob')));

    expect(lines()).toEqual([
      expect.objectContaining({
        level: 'INFO',
        message: 'sent',
        service: 'parley',
        connectionId: ALICE_PHONE,
        userId: 'alice',
        deviceId: 'phone',
        requestId: 'r1',
        function_request_id: lambdaContext.awsRequestId,
        conversationId: 'dm:alice:bob',
        seq: 3,
      }),
    ]);
  });

  it('name the connection, the caller and the requestId on the line of a refused frame', async () => {
    const { provider, lines } = logging();

    await invoke(createSendHandler(provider), messageEvent({ ...sendFrame('r9', 'bob'), body: '' }));

    expect(lines()).toEqual([
      expect.objectContaining({
        message: 'frame refused',
        code: 'bad_request',
        connectionId: ALICE_PHONE,
        userId: 'alice',
        deviceId: 'phone',
        requestId: 'r9',
      }),
    ]);
  });

  it('carry nothing of one invocation into the next', async () => {
    acceptSends();
    const { provider, lines } = logging();

    await invoke(createSendHandler(provider), messageEvent(sendFrame('r1', 'bob')));
    await invoke(createDefaultHandler(provider), fromBobsTablet('not json'));

    const [, refused] = lines();
    expect(refused).toMatchObject({
      message: 'frame refused',
      connectionId: BOB_TABLET,
      userId: 'bob',
      deviceId: 'tablet',
    });
    for (const key of ['requestId', 'conversationId', 'seq']) expect(refused).not.toHaveProperty(key);
  });

  it('keep the keys of invocations that run at the same time apart, as on the local stack', async () => {
    ddb.on(QueryCommand).resolves({ Items: [{ seq: 2 }] });
    // Each transaction waits until the other has started, so both invocations are under way.
    let started = 0;
    let releaseBoth = () => {};
    const bothStarted = new Promise<void>((resolve) => {
      releaseBoth = resolve;
    });
    ddb.on(TransactWriteCommand).callsFake(async () => {
      started += 1;
      if (started === 2) releaseBoth();
      await bothStarted;
      return {};
    });
    const { provider, lines } = logging();
    const send = createSendHandler(provider);

    await Promise.all([
      invoke(send, messageEvent(sendFrame('from-alice', 'bob'))),
      invoke(send, fromBobsTablet(sendFrame('from-bob', 'alice'))),
    ]);

    const who = lines().map(({ requestId, connectionId, userId }) => ({ requestId, connectionId, userId }));
    expect(who).toHaveLength(2);
    expect(who).toEqual(
      expect.arrayContaining([
        { requestId: 'from-alice', connectionId: ALICE_PHONE, userId: 'alice' },
        { requestId: 'from-bob', connectionId: BOB_TABLET, userId: 'bob' },
      ]),
    );
  });

  it('name the connection, the user and the device on the lines of $connect and $disconnect', async () => {
    ddb.on(UpdateCommand).resolves({});
    ddb.on(GetCommand).resolves({});
    ddb.on(DeleteCommand).resolves({});
    // Protocol 1.1: both read the user's groups (none here).
    ddb.on(QueryCommand).resolves({ Items: [] });
    const { provider, lines } = logging();

    await createConnectHandler(provider)(connectEvent(), lambdaContext);
    await createDisconnectHandler(provider)(disconnectEvent(), lambdaContext);

    const keys = { connectionId: ALICE_PHONE, userId: 'alice', deviceId: 'phone' };
    expect(lines()).toEqual([
      expect.objectContaining({ message: 'connected', ...keys }),
      expect.objectContaining({ message: 'disconnected', ...keys }),
    ]);
  });

  it('carry the service name that POWERTOOLS_SERVICE_NAME gives', async () => {
    const { serviceName, logLevel } = configFromEnvironment('default', {
      POWERTOOLS_SERVICE_NAME: 'parley-dev',
      POWERTOOLS_LOG_LEVEL: 'INFO',
    });
    const { provider, lines } = logging(testConfig({ serviceName, logLevel }));

    await invoke(createDefaultHandler(provider), messageEvent('not json'));

    expect(lines()).toEqual([expect.objectContaining({ message: 'frame refused', service: 'parley-dev' })]);
  });
});
