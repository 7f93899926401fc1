/**
 * A `send` that asks for no echo (protocol 1.5): the record names the sending connection
 * among the connections reached, so that neither `send`'s fast path nor the fanout (its
 * late-connection pass included) posts the message to it, while every other device of
 * every member gets it as before. On the in-memory ports, through the send handler, so
 * that the frame's field and the caller's connection are the ones the route reads.
 */
import type { MessageEventFrame, SentFrame } from '@parley/protocol';
import { describe, expect, it } from 'vitest';
import { createBatchFanout } from '../../lambdas/domain/fanout-batch.js';
import type { MessageRecord } from '../../lambdas/domain/ports.js';
import { createSendHandler } from '../../lambdas/handlers/send.js';
import { fanoutDeps } from '../../lambdas/runtime.js';
import { connect, device, GROUP, recordsOf, storeGroup } from './support/group-fixtures.js';
import {
  answerOf,
  createInMemoryTestDeps,
  errorOf,
  invoke,
  messageEvent,
  testConfig,
} from './support/harness.js';

/** The connection of alice's phone, the device the handler's event comes from. */
const SENDING = 'conn-alice-phone';

function setUp(fastPathMaxConnections = 16) {
  const test = createInMemoryTestDeps({ config: testConfig({ fastPathMaxConnections }) });
  const handler = createSendHandler(test.provider);
  const send = async (fields: Record<string, unknown>, clientMessageId = 'cm-1') => {
    const event = messageEvent({
      action: 'send',
      requestId: 'r1',
      clientMessageId,
      body: 'hello',
      ...fields,
    });
    event.requestContext.connectionId = SENDING;
    return invoke(handler, event);
  };
  const fanout = createBatchFanout(() => fanoutDeps(test.deps));
  let published = 0;
  /** Runs the fanout over the records published since it last ran, as the stream would. */
  const deliver = async () => {
    const events = test.ports.publisher.events.slice(published);
    published += events.length;
    return fanout(recordsOf(events));
  };
  /** The seqs of the `message` frames posted to a connection, by `send` and by the fanout together. */
  const seqsTo = (connectionId: string) =>
    test.ports.pusher
      .framesTo(connectionId)
      .filter((frame): frame is MessageEventFrame => (frame as MessageEventFrame).type === 'message')
      .map((frame) => frame.seq);
  const records = () => test.ports.publisher.events as MessageRecord[];
  return { ...test, send, deliver, seqsTo, records };
}

async function openDirectDevices(test: ReturnType<typeof setUp>) {
  for (const connection of [device('alice', 'phone'), device('alice', 'laptop'), device('bob', 'phone')]) {
    await test.ports.connections.putConnection(connection);
  }
}

describe('the send frame’s echo field (protocol 1.5)', () => {
  it.each([
    ['true', { echo: true }],
    ['false', { echo: false }],
    ['absent', {}],
  ])('accepts echo %s', async (_case, fields) => {
    const test = setUp();

    const result = await test.send({ to: 'bob', ...fields });

    expect(answerOf<SentFrame>(result)).toMatchObject({ type: 'sent', seq: 1, duplicate: false });
  });

  it.each([
    ['a string', 'no'],
    ['a number', 0],
    ['null', null],
  ])('refuses echo as %s with bad_request naming the field, and stores nothing', async (_case, echo) => {
    const test = setUp();

    const result = await test.send({ to: 'bob', echo });

    expect(errorOf(result)).toMatchObject({
      code: 'bad_request',
      requestId: 'r1',
      message: 'echo: must be true or false',
    });
    expect(test.ports.publisher.events).toEqual([]);
  });
});

describe.each([
  ['on', 16],
  ['off', 0],
])('a one-to-one send with the fast path %s', (_fastPath, fastPathMaxConnections) => {
  it('with echo false, posts the message to every device but the sending connection, each once', async () => {
    const test = setUp(fastPathMaxConnections);
    await openDirectDevices(test);

    await test.send({ to: 'bob', echo: false });
    expect(await test.deliver()).toEqual([]);

    expect(test.records()[0]?.reached).toContain(SENDING);
    expect(test.seqsTo(SENDING)).toEqual([]);
    expect(test.seqsTo('conn-alice-laptop')).toEqual([1]);
    expect(test.seqsTo('conn-bob-phone')).toEqual([1]);
  });

  it.each([
    ['absent', {}],
    ['true', { echo: true }],
  ])('with echo %s, posts the message to the sending connection too, as in 1.4', async (_case, fields) => {
    const test = setUp(fastPathMaxConnections);
    await openDirectDevices(test);

    await test.send({ to: 'bob', ...fields });
    await test.deliver();

    expect(test.records()[0]?.reached ?? []).not.toContain(SENDING);
    expect(test.seqsTo(SENDING)).toEqual([1]);
    expect(test.seqsTo('conn-alice-laptop')).toEqual([1]);
    expect(test.seqsTo('conn-bob-phone')).toEqual([1]);
  });

  it('answers a resend with echo false as duplicate, whose record names no connection: the stream posts it to every device', async () => {
    const test = setUp(fastPathMaxConnections);
    await openDirectDevices(test);
    await test.send({ to: 'bob', echo: false });
    await test.deliver();

    const again = await test.send({ to: 'bob', echo: false });
    await test.deliver();

    expect(answerOf<SentFrame>(again)).toMatchObject({ seq: 1, duplicate: true });
    expect(test.records()[1]).not.toHaveProperty('reached');
    expect(test.seqsTo(SENDING)).toEqual([1]);
  });
});

describe('the fanout’s late-connection pass', () => {
  it('leaves out the sending connection that asked for no echo, though its first posts missed it', async () => {
    // The fast path off: only the fanout posts. A first batch keeps bob's and alice's
    // connections as they were before alice's phone connected, for the next batch's first posts.
    const test = setUp(0);
    await test.ports.connections.putConnection(device('bob', 'phone'));
    await test.ports.connections.putConnection(device('alice', 'laptop'));
    await test.send({ to: 'bob' }, 'cm-before');
    await test.deliver();
    await test.ports.connections.putConnection(device('alice', 'phone'));

    await test.send({ to: 'bob', echo: false });
    expect(await test.deliver()).toEqual([]);

    expect(test.seqsTo(SENDING)).toEqual([]);
    expect(test.seqsTo('conn-alice-laptop')).toEqual([1, 2]);
    expect(test.seqsTo('conn-bob-phone')).toEqual([1, 2]);
  });
});

describe.each([
  ['on', 16],
  ['off', 0],
])('a group send with the fast path %s', (_fastPath, fastPathMaxConnections) => {
  it('with echo false, posts the message to every member’s devices but the sending connection', async () => {
    const test = setUp(fastPathMaxConnections);
    await storeGroup(test.ports, { members: { alice: 1, bob: 1 } });
    await connect(test.ports, [device('alice', 'phone'), device('alice', 'laptop'), device('bob', 'phone')]);

    const result = await test.send({ conversationId: GROUP, echo: false });
    expect(await test.deliver()).toEqual([]);

    expect(answerOf<SentFrame>(result)).toMatchObject({ seq: 1, duplicate: false });
    expect(test.seqsTo(SENDING)).toEqual([]);
    expect(test.seqsTo('conn-alice-laptop')).toEqual([1]);
    expect(test.seqsTo('conn-bob-phone')).toEqual([1]);
  });

  it('with echo absent, posts the message to the sending connection too', async () => {
    const test = setUp(fastPathMaxConnections);
    await storeGroup(test.ports, { members: { alice: 1, bob: 1 } });
    await connect(test.ports, [device('alice', 'phone'), device('alice', 'laptop'), device('bob', 'phone')]);

    await test.send({ conversationId: GROUP });
    await test.deliver();

    expect(test.seqsTo(SENDING)).toEqual([1]);
    expect(test.seqsTo('conn-alice-laptop')).toEqual([1]);
  });
});
