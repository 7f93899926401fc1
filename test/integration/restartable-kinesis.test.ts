import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  ListShardsCommand,
  PutRecordCommand,
} from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_CREDENTIALS, localKinesisRequestHandler } from '../../lambdas/adapters/aws-clients.js';
import { type RestartableEngine, startRestartableKinesisMock } from '../../local/engines.js';

describe('a restartable kinesis-mock (the chaos run restarts it mid-run)', () => {
  let dataDir: string;
  let engine: RestartableEngine;
  let client: KinesisClient;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'parley-kinesis-restart-'));
    engine = await startRestartableKinesisMock({ dataDir });
    client = new KinesisClient({
      endpoint: engine.endpoint,
      region: 'us-east-1',
      credentials: LOCAL_CREDENTIALS,
      requestHandler: localKinesisRequestHandler(),
      maxAttempts: 1,
    });
  });
  afterAll(async () => {
    client?.destroy();
    await engine?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('fails puts while it is down and keeps, at the same endpoint, every record it acknowledged', async () => {
    await client.send(new CreateStreamCommand({ StreamName: 'restart', ShardCount: 1 }));
    const acknowledged: string[] = [];
    let refused = 0;
    let putting = true;
    const putter = (async () => {
      for (let i = 0; putting; i++) {
        try {
          const put = await client.send(
            new PutRecordCommand({
              StreamName: 'restart',
              PartitionKey: `k${i}`,
              Data: Buffer.from(`r${i}`),
            }),
          );
          acknowledged.push(put.SequenceNumber as string);
        } catch {
          refused++;
        }
      }
    })();
    // Records flow before, during and after the restart.
    while (acknowledged.length < 50) await new Promise((resolve) => setImmediate(resolve));
    await engine.restart();
    const afterRestart = acknowledged.length;
    while (acknowledged.length < afterRestart + 20) await new Promise((resolve) => setImmediate(resolve));
    putting = false;
    await putter;

    const { Shards } = await client.send(new ListShardsCommand({ StreamName: 'restart' }));
    let iterator = (
      await client.send(
        new GetShardIteratorCommand({
          StreamName: 'restart',
          ShardId: Shards?.[0]?.ShardId,
          ShardIteratorType: 'TRIM_HORIZON',
        }),
      )
    ).ShardIterator;
    const stored = new Set<string>();
    while (iterator) {
      const page = await client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
      for (const record of page.Records ?? []) stored.add(record.SequenceNumber as string);
      if (!page.Records?.length) break;
      iterator = page.NextShardIterator;
    }
    expect(refused).toBeGreaterThan(0);
    expect(acknowledged.filter((sequenceNumber) => !stored.has(sequenceNumber))).toEqual([]);
  });
});
