/**
 * The CDK app: `npx cdk synth -c stage=dev` (the default stage is in `cdk.json`; every
 * setting is listed in `lib/settings.ts`). The account and region come from the CLI's
 * profile when there is one; without them the stack is environment-agnostic and
 * `cdk synth` needs no AWS account. cdk-nag's AwsSolutions checks run on every synth: an
 * unsuppressed finding fails it.
 *
 * With `-c accountLogsRole=true` the app holds a second stack, `ParleyAccount`: the
 * account's API Gateway logs role, which the stage's logs need and which is deployed
 * first (`npx cdk deploy --all -c accountLogsRole=true`, once per account and region).
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ACCOUNT_STACK_NAME, ParleyAccountStack } from '../lib/account-stack.js';
import { ParleyStack } from '../lib/parley-stack.js';
import { parseSettings } from '../lib/settings.js';

const app = new App();
const settings = parseSettings((key) => app.node.tryGetContext(key));
const env = { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION };

const stack = new ParleyStack(app, `Parley-${settings.stage}`, {
  settings,
  env,
  description: `Parley real-time messaging (${settings.stage})`,
});
if (settings.accountLogsRole) {
  const account = new ParleyAccountStack(app, ACCOUNT_STACK_NAME, {
    env,
    description: 'Parley: the API Gateway CloudWatch Logs role of the account and region',
  });
  stack.addStackDependency(account, 'the stage’s access and execution logs need the account’s logs role');
}
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
