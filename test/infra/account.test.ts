import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { ACCOUNT_STACK_NAME, ParleyAccountStack } from '../../lib/account-stack.js';
import { buildApp, DEV_CONTEXT } from './support/synthesize.js';

// Each synthesis with cdk-nag's checks takes a few seconds.
describe('the ParleyAccount stack', { timeout: 60_000 }, () => {
  const { app, stack, account } = buildApp({ ...DEV_CONTEXT, accountLogsRole: 'true' });
  // Synthesizes the whole app, cdk-nag's checks included: a finding would throw here.
  const template = Template.fromStack(account as ParleyAccountStack);

  it('is added, under one name whatever the stage, when the context asks for it', () => {
    expect(account).toBeInstanceOf(ParleyAccountStack);
    expect(account?.stackName).toBe(ACCOUNT_STACK_NAME);
    expect(app.node.children.filter((child) => child instanceof ParleyAccountStack)).toHaveLength(1);
  });

  it('is deployed before the stage, whose logs need the role', () => {
    expect(stack.dependencies).toContain(account);
  });

  it('sets the account’s API Gateway logs role to a role API Gateway assumes, with the policy AWS maintains', () => {
    template.resourceCountIs('AWS::IAM::Role', 1);
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [
          Match.objectLike({ Effect: 'Allow', Principal: { Service: 'apigateway.amazonaws.com' } }),
        ],
      },
      ManagedPolicyArns: [
        {
          'Fn::Join': [
            '',
            [
              'arn:',
              { Ref: 'AWS::Partition' },
              ':iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs',
            ],
          ],
        },
      ],
    });
    template.resourceCountIs('AWS::ApiGateway::Account', 1);
    template.hasResourceProperties('AWS::ApiGateway::Account', {
      CloudWatchRoleArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('ApiGatewayLogsRole'), 'Arn'] },
    });
  });

  it('keeps the role and the setting when the stack is deleted, for every API of the account', () => {
    for (const type of ['AWS::IAM::Role', 'AWS::ApiGateway::Account']) {
      const resources = Object.values(template.findResources(type));
      expect(resources, type).toHaveLength(1);
      expect(resources[0], type).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    }
  });

  it('holds nothing else', () => {
    const types = Object.values(template.toJSON().Resources as Record<string, { Type: string }>).map(
      (resource) => resource.Type,
    );
    expect(types.sort()).toEqual(['AWS::ApiGateway::Account', 'AWS::IAM::Role']);
  });
});

describe('the app without accountLogsRole', () => {
  it('holds the stage stack alone, which depends on no other', () => {
    const { app, stack, account } = buildApp(DEV_CONTEXT);
    expect(account).toBeUndefined();
    expect(app.node.children.filter((child) => child instanceof ParleyAccountStack)).toHaveLength(0);
    expect(stack.dependencies).toEqual([]);
  });
});
