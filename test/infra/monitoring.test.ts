import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { FUNCTIONS } from '../../definitions/functions.js';
import { METRICS_NAMESPACE, MetricName } from '../../definitions/metrics.js';
import { TABLES } from '../../definitions/tables.js';
import { DEV_CONTEXT, PROD_CONTEXT, synthesize, type TemplateJson } from './support/synthesize.js';

const dev = synthesize(DEV_CONTEXT);
const prod = synthesize(PROD_CONTEXT);

type Alarm = { Properties: Record<string, TemplateJson> };

function alarms(deployment: typeof dev): Alarm[] {
  return Object.values(deployment.template.findResources('AWS::CloudWatch::Alarm') as Record<string, Alarm>);
}

const topicRef = () => ({ Ref: dev.logicalId(dev.stack.monitoring.alarmTopic) });

describe('the alarms', () => {
  it('alarm when the p99 delivery latency, commit to post, goes over 200 ms', () => {
    dev.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: METRICS_NAMESPACE,
      MetricName: MetricName.DeliveryLatency,
      Dimensions: [{ Name: 'service', Value: 'parley-dev' }],
      ExtendedStatistic: 'p99',
      Period: 60,
      Threshold: 200,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
    });
  });

  it('take the latency threshold from the settings', () => {
    const relaxed = synthesize({ stage: 'dev', deliveryLatencyP99AlarmMs: '350' });
    relaxed.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: MetricName.DeliveryLatency,
      Threshold: 350,
    });
  });

  it('alarm when either stream consumer lags more than 30 s', () => {
    for (const id of ['fanout', 'presence-notifier'] as const) {
      dev.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/Lambda',
        MetricName: 'IteratorAge',
        Dimensions: [
          { Name: 'FunctionName', Value: { Ref: dev.logicalId(dev.stack.functions.functions[id]) } },
        ],
        Statistic: 'Maximum',
        Threshold: 30_000,
      });
    }
  });

  it('alarm on errors and on throttles of every function', () => {
    for (const { id } of FUNCTIONS) {
      const dimension = [
        { Name: 'FunctionName', Value: { Ref: dev.logicalId(dev.stack.functions.functions[id]) } },
      ];
      for (const metricName of ['Errors', 'Throttles']) {
        const found = alarms(dev).filter(
          (alarm) =>
            alarm.Properties.MetricName === metricName &&
            JSON.stringify(alarm.Properties.Dimensions) === JSON.stringify(dimension),
        );
        expect(found, `${id} ${metricName}`).toHaveLength(1);
      }
    }
  });

  it('alarm on read or write throttling of every table', () => {
    for (const table of TABLES) {
      const tableRef = { Ref: dev.logicalId(dev.stack.data.tables[table.id]) };
      const found = alarms(dev).filter((alarm) => {
        const metrics = JSON.stringify(alarm.Properties.Metrics ?? []);
        return (
          metrics.includes('ReadThrottleEvents') &&
          metrics.includes('WriteThrottleEvents') &&
          metrics.includes(JSON.stringify(tableRef))
        );
      });
      expect(found, table.id).toHaveLength(1);
      expect(found[0]?.Properties.Threshold).toBe(0);
    }
  });

  it('alarm as soon as a record waits in the on-failure queue', () => {
    dev.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [
        {
          Name: 'QueueName',
          Value: { 'Fn::GetAtt': [dev.logicalId(dev.stack.delivery.failureQueue), 'QueueName'] },
        },
      ],
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
  });

  it('alarm as soon as the authorizer cannot read the keys that verify tokens, on the metric it emits', () => {
    dev.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: METRICS_NAMESPACE,
      MetricName: MetricName.TokenKeysUnavailable,
      Dimensions: [{ Name: 'service', Value: 'parley-dev' }],
      Statistic: 'Sum',
      Period: 60,
      EvaluationPeriods: 1,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
    // Powertools gives every metric the `service` dimension from this variable and the
    // namespace from the recorder: the alarm watches what the authorizer really emits.
    const authorizer =
      dev.template.toJSON().Resources[dev.logicalId(dev.stack.functions.functions.authorizer)];
    expect(authorizer.Properties.Environment.Variables).toMatchObject({
      POWERTOOLS_SERVICE_NAME: 'parley-dev',
      POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
    });
  });

  it('all notify the alarm topic, when they fire and when they clear', () => {
    expect(alarms(dev).length).toBeGreaterThan(2 * FUNCTIONS.length);
    for (const alarm of alarms(dev)) {
      expect(alarm.Properties.AlarmActions).toEqual([topicRef()]);
      expect(alarm.Properties.OKActions).toEqual([topicRef()]);
      expect(alarm.Properties.AlarmDescription).toEqual(expect.any(String));
    }
  });

  it('e-mail the address the settings give, and nobody when none is given', () => {
    prod.template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: PROD_CONTEXT.alarmEmail,
    });
    dev.template.resourceCountIs('AWS::SNS::Subscription', 0);
  });

  it('go to a topic that refuses plain HTTP', () => {
    dev.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });
});

describe('the dashboard', () => {
  const body = () => {
    const dashboards = Object.values(dev.template.findResources('AWS::CloudWatch::Dashboard')) as Alarm[];
    expect(dashboards).toHaveLength(1);
    // The body is a Fn::Join of strings and references: the parts are enough to read it.
    return JSON.stringify(dashboards[0]?.Properties.DashboardBody);
  };

  it('shows delivery latency p50 and p99 against the alarm line', () => {
    expect(body()).toContain(`\\"${METRICS_NAMESPACE}\\",\\"${MetricName.DeliveryLatency}\\"`);
    expect(body()).toMatch(/\\"stat\\":\\"p50\\"/);
    expect(body()).toMatch(/\\"stat\\":\\"p99\\"/);
    expect(body()).toContain('p99 alarm');
  });

  it('shows every business metric, connections, stream lag, errors and DynamoDB capacity', () => {
    for (const name of Object.values(MetricName)) expect(body()).toContain(`\\"${name}\\"`);
    for (const metric of [
      'ConnectCount',
      'MessageCount',
      'IteratorAge',
      'IncomingRecords',
      'ConsumedWriteCapacityUnits',
    ]) {
      expect(body()).toContain(metric);
    }
  });

  it('is named after the stack and output with it', () => {
    dev.template.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'Parley-dev' });
    expect(dev.template.findOutputs('DashboardName')).toBeDefined();
  });
});
