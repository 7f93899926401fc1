/**
 * The CDK app: `npx cdk synth -c stage=dev` (the default stage is in `cdk.json`; every
 * setting is listed in `lib/settings.ts`). The account and region come from the CLI's
 * profile when there is one; without them the stack is environment-agnostic and
 * `cdk synth` needs no AWS account. cdk-nag's AwsSolutions checks run on every synth: an
 * unsuppressed finding fails it.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ParleyStack } from '../lib/parley-stack.js';
import { parseSettings } from '../lib/settings.js';

const app = new App();
const settings = parseSettings((key) => app.node.tryGetContext(key));

new ParleyStack(app, `Parley-${settings.stage}`, {
  settings,
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  description: `Parley real-time messaging (${settings.stage})`,
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
