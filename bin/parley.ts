/**
 * The CDK app: `npx cdk synth -c stage=dev` (the default stage is in `cdk.json`). The
 * account and region come from the CLI's profile when there is one; without them the
 * stack is environment-agnostic and `cdk synth` needs no AWS account.
 */
import { App } from 'aws-cdk-lib';
import { ParleyStack } from '../lib/parley-stack.js';
import { parseStage } from '../lib/stage.js';

const app = new App();
const stage = parseStage(app.node.tryGetContext('stage'));

new ParleyStack(app, `Parley-${stage}`, {
  stage,
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  description: `Parley real-time messaging (${stage})`,
});
