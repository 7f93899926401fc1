/**
 * `npm run bench:spine`: the message spine on the local stack. Sends 100 messages one after
 * another from alice to bob and prints the send-to-receive latency, plus the DynamoDB
 * capacity the sequencing path consumed per message (ReturnConsumedCapacity).
 */
import { randomUUID } from 'node:crypto';
import { cpus } from 'node:os';
import type { ConsumedCapacity } from '@aws-sdk/client-dynamodb';
import { directConversationId } from '@parley/protocol';
import { FrameClient } from '../bench/frame-client.js';
import { percentile } from '../bench/stats.js';
import { LOCAL_JWT_SECRET } from '../lambdas/config.js';
import { mintToken } from '../lambdas/domain/tokens.js';
import { startLocalStack } from '../local/stack.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 100);

const capacity = new Map<string, { calls: number; read: number; write: number; total: number }>();
const record = (operation: string, consumed: ConsumedCapacity[]) => {
  const entry = capacity.get(operation) ?? { calls: 0, read: 0, write: 0, total: 0 };
  entry.calls += 1;
  for (const c of consumed) {
    entry.read += c.ReadCapacityUnits ?? 0;
    entry.write += c.WriteCapacityUnits ?? 0;
    entry.total += c.CapacityUnits ?? 0;
  }
  capacity.set(operation, entry);
};

const stack = await startLocalStack({ wsPort: 0, logLevel: 'ERROR', deps: { onCapacity: record } });
try {
  const [alice, bob] = ['alice', 'bob'];
  const conversationId = directConversationId(alice, bob);
  const sender = await FrameClient.connect(stack.url, {
    token: await mintToken(alice, LOCAL_JWT_SECRET),
    deviceId: 'phone',
  });
  const receiver = await FrameClient.connect(stack.url, {
    token: await mintToken(bob, LOCAL_JWT_SECRET),
    deviceId: 'phone',
  });
  // Warm up: the first message pays for cold connections and JIT.
  await sender.request({ action: 'send', to: bob, clientMessageId: randomUUID(), body: 'warm-up' });
  await receiver.messagesOf(conversationId, 1);
  capacity.clear();

  const latencies: number[] = [];
  const sentAnswers: number[] = [];
  for (let i = 0; i < MESSAGES; i++) {
    const started = performance.now();
    const delivered = receiver.next((frame) => frame.type === 'message' && frame.body === `m${i}`, 10_000);
    await sender.request({
      action: 'send',
      to: bob,
      clientMessageId: randomUUID(),
      body: `m${i}`,
    });
    sentAnswers.push(performance.now() - started);
    await delivered;
    latencies.push(performance.now() - started);
  }
  latencies.sort((a, b) => a - b);
  sentAnswers.sort((a, b) => a - b);
  await Promise.all([sender.close(), receiver.close()]);

  const fmt = (n: number) => n.toFixed(1);
  console.log(`\nParley spine benchmark: ${MESSAGES} sequential messages alice → bob on the local stack`);
  console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}\n`);
  console.log('                      p50     p95     p99     max   (ms)');
  console.log(
    `send → receive     ${[50, 95, 99, 100].map((p) => fmt(percentile(latencies, p)).padStart(7)).join(' ')}`,
  );
  console.log(
    `send → sent answer ${[50, 95, 99, 100].map((p) => fmt(percentile(sentAnswers, p)).padStart(7)).join(' ')}`,
  );
  console.log('\nDynamoDB capacity on the sequencing path, per message (as DynamoDB Local reports it):');
  for (const [operation, entry] of capacity) {
    console.log(
      `  ${operation.padEnd(14)} calls/msg ${(entry.calls / MESSAGES).toFixed(2)}  capacity units/msg ${(entry.total / MESSAGES).toFixed(2)}`,
    );
  }
  const transactItems = 2;
  console.log(
    `\nDynamoDB Local reports 2 units for any transaction; AWS bills 2 write units per item in a transaction:\n` +
      `  AWS: storeMessage = ${transactItems} items × 2 = ${transactItems * 2} write units per message (item < 1 KB), ` +
      `lastSeq = 1 strongly consistent read unit (Query, Limit 1, item < 4 KB).`,
  );
} finally {
  await stack.stop();
}
