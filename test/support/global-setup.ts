import type { TestProject } from 'vitest/node';
import { type RunningEngine, startDynamoDbLocal, startKinesisMock } from '../../local/engines.js';

declare module 'vitest' {
  export interface ProvidedContext {
    dynamodbEndpoint: string;
    kinesisEndpoint: string;
  }
}

let engines: RunningEngine[] = [];

export async function setup(project: TestProject): Promise<void> {
  engines = await Promise.all([startDynamoDbLocal(), startKinesisMock()]);
  const [dynamodb, kinesis] = engines as [RunningEngine, RunningEngine];
  project.provide('dynamodbEndpoint', dynamodb.endpoint);
  project.provide('kinesisEndpoint', kinesis.endpoint);
}

export async function teardown(): Promise<void> {
  await Promise.all(engines.map((engine) => engine.stop()));
  engines = [];
}
