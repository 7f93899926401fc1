import { describe, expect, it } from 'vitest';
import webPush from 'web-push';
import { FUNCTIONS, type FunctionId } from '../../definitions/functions.js';
import { MetricName } from '../../definitions/metrics.js';
import { pushConsumer } from '../../definitions/stream-consumers.js';
import { pushSettingsFrom } from '../../lambdas/config.js';
import { functionResource, permissionsOf } from './support/permissions.js';
import { DEV_CONTEXT, synthesize, type TemplateJson } from './support/synthesize.js';

const keys = webPush.generateVAPIDKeys();
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:parley/vapid-AbC123';
const APNS_ARN = 'arn:aws:sns:eu-west-1:123456789012:app/APNS/parley-ios';
const FCM_ARN = 'arn:aws:sns:eu-west-1:123456789012:app/GCM/parley-android';
const WEB_PUSH_CONTEXT = {
  stage: 'dev',
  vapidPublicKey: keys.publicKey,
  vapidPrivateKeySecretArn: SECRET_ARN,
  vapidSubject: 'mailto:ops@example.com',
} as const;
const PUSH_CONTEXT = {
  ...WEB_PUSH_CONTEXT,
  apnsPlatformApplicationArn: APNS_ARN,
  fcmPlatformApplicationArn: FCM_ARN,
  pushPreview: 'true',
  pushCoalesceSeconds: '10',
  pushTtlSeconds: '3600',
  pushEndpointHosts: 'fcm.googleapis.com,push.services.mozilla.com',
} as const;

const dev = synthesize(DEV_CONTEXT);
const webPushOnly = synthesize(WEB_PUSH_CONTEXT);
const push = synthesize(PUSH_CONTEXT);

type Resource = { Properties: Record<string, TemplateJson> };
const PUSH_ROUTES: FunctionId[] = ['register-push', 'unregister-push'];

const variablesOf = (deployment: typeof dev, id: FunctionId): Record<string, string> =>
  functionResource(deployment, id).Properties.Environment.Variables;
const pushVariablesOf = (deployment: typeof dev, id: FunctionId) =>
  Object.fromEntries(
    Object.entries(variablesOf(deployment, id)).filter(
      ([name]) =>
        !name.endsWith('_TABLE') &&
        (name.startsWith('PARLEY_VAPID_') || name.includes('PUSH') || name.includes('PLATFORM')),
    ),
  );
const snsPermissionsOf = (deployment: typeof dev, id: FunctionId) =>
  permissionsOf(deployment, id)
    .filter(({ action }) => action.startsWith('sns:'))
    .map(({ action, resource }) => `${action} ${JSON.parse(resource)}`)
    .sort();

describe('the push-devices table', () => {
  it('is encrypted with the AWS managed key, recoverable to a point in time, and expires windows by expiresAt', () => {
    const table = dev.template.toJSON().Resources[
      dev.logicalId(dev.stack.data.tables['push-devices'])
    ] as Resource;
    expect(table?.Properties).toMatchObject({
      KeySchema: [
        { AttributeName: 'userId', KeyType: 'HASH' },
        { AttributeName: 'itemKey', KeyType: 'RANGE' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS' },
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      Replicas: [
        expect.objectContaining({ PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } }),
      ],
    });
  });
});

describe('the push-notifier', () => {
  it('reads the stream by shared polling, message events only, in batches gathered for a second', () => {
    const fn = dev.logicalId(dev.stack.functions.functions['push-notifier']);
    const mappings = Object.values(
      dev.template.findResources('AWS::Lambda::EventSourceMapping') as Record<string, Resource>,
    ).filter((mapping) => mapping.Properties.FunctionName.Ref === fn);
    expect(mappings).toHaveLength(1);
    expect(mappings[0]?.Properties).toMatchObject({
      // The stream itself, not an enhanced fan-out consumer: shared polling.
      EventSourceArn: { 'Fn::GetAtt': [dev.logicalId(dev.stack.data.stream), 'Arn'] },
      BatchSize: pushConsumer.batchSize,
      MaximumBatchingWindowInSeconds: 1,
      MaximumRetryAttempts: pushConsumer.maximumRetryAttempts,
      MaximumRecordAgeInSeconds: pushConsumer.maximumRecordAgeInSeconds,
      BisectBatchOnFunctionError: true,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      FilterCriteria: { Filters: [{ Pattern: JSON.stringify({ data: { type: ['message'] } }) }] },
    });
    expect(dev.stack.delivery.consumers['push-notifier']).toBeUndefined();
  });
});

describe('push turned off (no push settings)', () => {
  it('gives no function a push setting, an SNS permission or a VAPID output', () => {
    for (const { id } of FUNCTIONS) {
      expect(pushVariablesOf(dev, id), id).toEqual({});
      expect(snsPermissionsOf(dev, id), id).toEqual([]);
    }
    expect(Object.keys(dev.template.findOutputs('VapidPublicKey'))).toEqual([]);
  });

  it('leaves the functions to answer registerPush with bad_request for every kind', () => {
    const settings = pushSettingsFrom(variablesOf(dev, 'register-push'));
    expect(settings.vapid).toBeUndefined();
    expect(settings.apnsPlatformApplicationArn ?? settings.fcmPlatformApplicationArn).toBeUndefined();
  });
});

describe('push turned on', () => {
  it('gives the routes what tells them which kinds are on, and the notifier how to push', () => {
    const routes = {
      PARLEY_VAPID_PUBLIC_KEY: keys.publicKey,
      PARLEY_VAPID_SUBJECT: 'mailto:ops@example.com',
      PARLEY_APNS_PLATFORM_APPLICATION_ARN: APNS_ARN,
      PARLEY_FCM_PLATFORM_APPLICATION_ARN: FCM_ARN,
      PARLEY_PUSH_ENDPOINT_HOSTS: 'fcm.googleapis.com,push.services.mozilla.com',
    };
    for (const id of PUSH_ROUTES) expect(pushVariablesOf(push, id), id).toEqual(routes);
    expect(pushVariablesOf(push, 'push-notifier')).toEqual({
      ...routes,
      PARLEY_VAPID_PRIVATE_KEY_SECRET_ARN: SECRET_ARN,
      PARLEY_PUSH_PREVIEW: 'true',
      PARLEY_PUSH_COALESCE_SECONDS: '10',
      PARLEY_PUSH_TTL_SECONDS: '3600',
    });
    for (const { id } of FUNCTIONS.filter(({ id }) => id !== 'push-notifier' && !PUSH_ROUTES.includes(id))) {
      expect(pushVariablesOf(push, id), id).toEqual({});
    }
  });

  it('gives settings the functions themselves accept', () => {
    const notifier = pushSettingsFrom(variablesOf(push, 'push-notifier'));
    expect(notifier).toMatchObject({
      vapid: { publicKey: keys.publicKey, privateKeySecretArn: SECRET_ARN },
      apnsPlatformApplicationArn: APNS_ARN,
      fcmPlatformApplicationArn: FCM_ARN,
      preview: true,
      coalesceWindowMs: 10_000,
      ttlSeconds: 3600,
    });
    expect(pushSettingsFrom(variablesOf(push, 'register-push')).vapid?.publicKey).toBe(keys.publicKey);
  });

  it('never puts the VAPID private key in the template', () => {
    for (const deployment of [push, webPushOnly]) {
      expect(JSON.stringify(deployment.template.toJSON())).not.toContain(keys.privateKey);
    }
  });

  it('lets only the notifier read the VAPID key, from its secret only', () => {
    for (const { id } of FUNCTIONS) {
      const reads = permissionsOf(push, id).filter(({ resource }) => resource.includes(SECRET_ARN));
      expect(reads, id).toEqual(
        id === 'push-notifier'
          ? [{ action: 'secretsmanager:GetSecretValue', resource: JSON.stringify(SECRET_ARN) }]
          : [],
      );
    }
  });

  it('grants the notifier SNS on the configured platform applications and their endpoints only', () => {
    const endpoints = [
      'arn:aws:sns:eu-west-1:123456789012:endpoint/APNS/parley-ios/*',
      'arn:aws:sns:eu-west-1:123456789012:endpoint/GCM/parley-android/*',
    ];
    expect(snsPermissionsOf(push, 'push-notifier')).toEqual(
      [
        `sns:CreatePlatformEndpoint ${APNS_ARN}`,
        `sns:CreatePlatformEndpoint ${FCM_ARN}`,
        ...['Publish', 'GetEndpointAttributes', 'SetEndpointAttributes', 'DeleteEndpoint'].flatMap((action) =>
          endpoints.map((endpoint) => `sns:${action} ${endpoint}`),
        ),
      ].sort(),
    );
    for (const id of PUSH_ROUTES) {
      expect(snsPermissionsOf(push, id), id).toEqual(
        endpoints.map((endpoint) => `sns:DeleteEndpoint ${endpoint}`),
      );
    }
    for (const { id } of FUNCTIONS.filter(({ id }) => id !== 'push-notifier' && !PUSH_ROUTES.includes(id))) {
      expect(snsPermissionsOf(push, id), id).toEqual([]);
    }
  });

  it('grants no sns:* and no resource "*" anywhere', () => {
    for (const { id } of FUNCTIONS) {
      for (const { action, resource } of permissionsOf(push, id)) {
        expect(action, id).not.toMatch(/^sns:\*$|^\*$/);
        expect(resource, `${id} ${action}`).not.toBe('"*"');
      }
    }
  });

  it('grants no SNS action at all when no platform application is configured', () => {
    for (const { id } of FUNCTIONS) expect(snsPermissionsOf(webPushOnly, id), id).toEqual([]);
  });

  it('gives clients the VAPID public key as a stack output', () => {
    expect(push.template.findOutputs('VapidPublicKey')).toEqual({
      VapidPublicKey: expect.objectContaining({ Value: keys.publicKey }),
    });
  });
});

describe('push monitoring', () => {
  it('alarms when more than 20 % of at least 20 pushes fail in 5 minutes', () => {
    const alarm = Object.values(
      dev.template.findResources('AWS::CloudWatch::Alarm') as Record<string, Resource>,
    ).find((resource) => JSON.stringify(resource.Properties.Metrics ?? []).includes(MetricName.PushesFailed));
    expect(alarm?.Properties).toMatchObject({
      Threshold: 20,
      EvaluationPeriods: 1,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
    });
    const metrics = alarm?.Properties.Metrics as Array<Record<string, TemplateJson>>;
    expect(metrics.find(({ Expression }) => Expression)?.Expression).toBe(
      'IF(FILL(sent, 0) + FILL(failed, 0) >= 20, 100 * FILL(failed, 0) / (FILL(sent, 0) + FILL(failed, 0)), 0)',
    );
    for (const [id, name] of [
      ['sent', MetricName.PushesSent],
      ['failed', MetricName.PushesFailed],
    ]) {
      expect(metrics.find((metric) => metric.Id === id)?.MetricStat).toMatchObject({
        Metric: { MetricName: name },
        Period: 300,
        Stat: 'Sum',
      });
    }
  });

  it('shows pushes sent, coalesced and failed, and registrations removed, on the dashboard', () => {
    const body = JSON.stringify(dev.template.findResources('AWS::CloudWatch::Dashboard'));
    for (const name of [
      MetricName.PushesSent,
      MetricName.PushesCoalesced,
      MetricName.PushesFailed,
      MetricName.PushRegistrationsRemoved,
    ]) {
      expect(body).toContain(name);
    }
  });
});
