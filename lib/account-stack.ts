/**
 * `ParleyAccount`: the API Gateway CloudWatch Logs role of an account and region, which
 * the WebSocket stage's access and execution logs need. It is one setting per account and
 * region, shared by every API there, so it lives apart from the stage stacks: destroying
 * `Parley-dev` must not delete the role the setting still points to, and a stage must not
 * change a setting other APIs rely on. Deploy it once per account and region (the app adds
 * it with `-c accountLogsRole=true`); where the account has the role already, skip it.
 */
import { RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { acknowledge } from './nag.js';

/** One per account and region, whatever the stage. */
export const ACCOUNT_STACK_NAME = 'ParleyAccount';

export class ParleyAccountStack extends Stack {
  readonly logsRole: iam.Role;
  readonly logsSetting: apigateway.CfnAccount;

  constructor(scope: Construct, id: string = ACCOUNT_STACK_NAME, props: StackProps = {}) {
    super(scope, id, props);
    this.logsRole = new iam.Role(this, 'ApiGatewayLogsRole', {
      assumedBy: new iam.ServicePrincipal('apigateway.amazonaws.com'),
      description: 'Lets API Gateway write the access and execution logs of every API of the account',
      managedPolicies: [
        iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AmazonAPIGatewayPushToCloudWatchLogs'),
      ],
    });
    acknowledge(
      this.logsRole,
      'AwsSolutions-IAM4',
      'The account-wide API Gateway logging role needs the policy AWS maintains for it: API ' +
        'Gateway creates log groups of its own, for every API of the account, with it.',
      'Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs',
    );
    this.logsSetting = new apigateway.CfnAccount(this, 'ApiGatewayLogsSetting', {
      cloudWatchRoleArn: this.logsRole.roleArn,
    });
    // The setting outlives this stack (API Gateway has no way to unset it), so the role it
    // points to must too: deleting the stack leaves both, and every API keeps its logs.
    this.logsRole.applyRemovalPolicy(RemovalPolicy.RETAIN);
    this.logsSetting.applyRemovalPolicy(RemovalPolicy.RETAIN);
  }
}
