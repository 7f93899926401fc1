/**
 * What an operator watches: a dashboard of the message path end to end, and alarms, sent
 * to one SNS topic (and e-mailed when an address is given), for delivery latency, stream
 * lag, function errors and throttles, DynamoDB throttles, undeliverable records, token
 * keys that cannot be read, and a rising share of failed pushes.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { FunctionId } from '../../definitions/functions.js';
import {
  METRICS_NAMESPACE,
  MetricName,
  SERVICE_DIMENSION,
  serviceNameOf,
} from '../../definitions/metrics.js';
import { STREAM_CONSUMERS } from '../../definitions/stream-consumers.js';
import type { TableId } from '../../definitions/tables.js';
import { pascalCase } from './data.js';

export interface ParleyMonitoringProps {
  stage: string;
  functions: Readonly<Record<FunctionId, lambda.IFunction>>;
  tables: Readonly<Record<TableId, dynamodb.ITableV2>>;
  stream: kinesis.IStream;
  failureQueue: sqs.IQueue;
  api: { apiId: string; stageName: string };
  alarmEmail?: string;
  deliveryLatencyP99AlarmMs: number;
}

const ONE_MINUTE = Duration.minutes(1);
const FIVE_MINUTES = Duration.minutes(5);
/** The share of failed pushes in 5 minutes that raises the alarm, and the pushes it needs at least. */
const PUSH_FAILURE_ALARM_PERCENT = 20;
const PUSH_ALARM_MINIMUM_PUSHES = 20;

/** The metrics the alarms and the dashboard read: Parley's own (EMF), and the WebSocket API's. */
interface MonitoringMetrics {
  parley(name: MetricName, statistic: string, label?: string): cloudwatch.Metric;
  api(metricName: string, statistic?: string): cloudwatch.Metric;
}

function metricsOf(props: ParleyMonitoringProps): MonitoringMetrics {
  return {
    parley: (name, statistic, label) =>
      new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName: name,
        dimensionsMap: { [SERVICE_DIMENSION]: serviceNameOf(props.stage) },
        statistic,
        period: ONE_MINUTE,
        ...(label ? { label } : {}),
      }),
    api: (metricName, statistic = 'Sum') =>
      new cloudwatch.Metric({
        namespace: 'AWS/ApiGateway',
        metricName,
        dimensionsMap: { ApiId: props.api.apiId, Stage: props.api.stageName },
        statistic,
        period: ONE_MINUTE,
      }),
  };
}

export class ParleyMonitoring extends Construct {
  readonly alarmTopic: sns.Topic;
  readonly dashboard: cloudwatch.Dashboard;
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: ParleyMonitoringProps) {
    super(scope, id);
    this.alarmTopic = new sns.Topic(this, 'AlarmTopic', {
      displayName: `Parley ${props.stage} alarms`,
      enforceSSL: true,
    });
    if (props.alarmEmail) {
      this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));
    }
    const metrics = metricsOf(props);
    this.#alarmOnDeliveryLatency(props, metrics);
    this.#alarmOnFunctions(props);
    this.#alarmOnTables(props);
    this.#alarmOnTokenKeysAndFailures(props, metrics);
    this.#alarmOnPushFailures(metrics);
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `${Stack.of(this).stackName}`,
      defaultInterval: Duration.hours(3),
      widgets: [
        deliveryWidgets(props, metrics),
        trafficWidgets(props, metrics),
        streamWidgets(props),
        pushWidgets(props, metrics),
        [
          ...capacityWidgets(props),
          new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 12, height: 6 }),
        ],
      ],
    });
  }

  /* -------------------------------------------------------------------------- */
  /*                                   ALARMS                                   */
  /* -------------------------------------------------------------------------- */

  #alarmOnDeliveryLatency(props: ParleyMonitoringProps, { parley }: MonitoringMetrics) {
    this.#alarm('DeliveryLatencyP99', {
      metric: parley(MetricName.DeliveryLatency, 'p99'),
      threshold: props.deliveryLatencyP99AlarmMs,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
      alarmDescription: `p99 of commit-to-post delivery latency over ${props.deliveryLatencyP99AlarmMs} ms in 3 of 5 minutes`,
    });
  }

  #alarmOnFunctions(props: ParleyMonitoringProps) {
    for (const consumer of STREAM_CONSUMERS) {
      this.#alarm(`${pascalCase(consumer.id)}IteratorAge`, {
        metric: props.functions[consumer.id].metric('IteratorAge', {
          statistic: 'Maximum',
          period: ONE_MINUTE,
        }),
        threshold: 30_000,
        evaluationPeriods: 3,
        alarmDescription: `${consumer.id} lags more than 30 s behind the stream for 3 minutes`,
      });
    }
    for (const [functionId, fn] of Object.entries(props.functions)) {
      this.#alarm(`${pascalCase(functionId)}Errors`, {
        metric: fn.metricErrors({ period: FIVE_MINUTES, statistic: 'Sum' }),
        threshold: 4,
        evaluationPeriods: 1,
        alarmDescription: `the ${functionId} function failed 5 or more times in 5 minutes`,
      });
      this.#alarm(`${pascalCase(functionId)}Throttles`, {
        metric: fn.metricThrottles({ period: FIVE_MINUTES, statistic: 'Sum' }),
        threshold: 0,
        evaluationPeriods: 1,
        alarmDescription: `the ${functionId} function was throttled in the last 5 minutes (concurrency quota)`,
      });
    }
  }

  #alarmOnTables(props: ParleyMonitoringProps) {
    for (const [tableId, table] of Object.entries(props.tables)) {
      const throttles = new cloudwatch.MathExpression({
        expression: 'reads + writes',
        usingMetrics: {
          reads: table.metric('ReadThrottleEvents', { statistic: 'Sum', period: FIVE_MINUTES }),
          writes: table.metric('WriteThrottleEvents', { statistic: 'Sum', period: FIVE_MINUTES }),
        },
        label: `${tableId} throttle events`,
        period: FIVE_MINUTES,
      });
      this.#alarm(`${pascalCase(tableId)}TableThrottles`, {
        metric: throttles,
        threshold: 0,
        evaluationPeriods: 1,
        alarmDescription: `DynamoDB throttled requests to the ${tableId} table in the last 5 minutes`,
      });
    }
  }

  #alarmOnTokenKeysAndFailures(props: ParleyMonitoringProps, { parley }: MonitoringMetrics) {
    // One is enough: while the keys cannot be read, every device that connects is turned away.
    this.#alarm('TokenKeysUnavailable', {
      metric: parley(MetricName.TokenKeysUnavailable, 'Sum'),
      threshold: 0,
      evaluationPeriods: 1,
      alarmDescription:
        'the $connect authorizer could not read the keys that verify tokens (the JWKS URL or the signing key): connections fail with 500',
    });
    this.#alarm('UndeliverableRecords', {
      metric: props.failureQueue.metricApproximateNumberOfMessagesVisible({
        period: ONE_MINUTE,
        statistic: 'Maximum',
      }),
      threshold: 0,
      evaluationPeriods: 1,
      alarmDescription: 'stream records exhausted their retries and wait in the on-failure queue',
    });
  }

  /**
   * A rising share of pushes that fail (throttled through every retry, or refused): a
   * platform's credentials expired, a push service is down, or the VAPID key is wrong.
   * Counted only over a minimum of pushes, so that one failure in a quiet hour is not an alarm.
   */
  #alarmOnPushFailures({ parley }: MonitoringMetrics) {
    this.#alarm('PushFailureRate', {
      metric: pushFailurePercent(parley),
      threshold: PUSH_FAILURE_ALARM_PERCENT,
      evaluationPeriods: 1,
      alarmDescription:
        `more than ${PUSH_FAILURE_ALARM_PERCENT} % of pushes failed in 5 minutes ` +
        `(at least ${PUSH_ALARM_MINIMUM_PUSHES} pushes): check the SNS platform applications' credentials and the push services`,
    });
  }

  #alarm(id: string, props: Omit<cloudwatch.AlarmProps, 'comparisonOperator' | 'treatMissingData'>) {
    const alarm = new cloudwatch.Alarm(this, `${id}Alarm`, {
      ...props,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      // No data means no traffic, and no traffic is not an incident.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(new actions.SnsAction(this.alarmTopic));
    alarm.addOkAction(new actions.SnsAction(this.alarmTopic));
    this.alarms.push(alarm);
  }
}

/* -------------------------------------------------------------------------- */
/*                                  DASHBOARD                                 */
/* -------------------------------------------------------------------------- */

function deliveryWidgets(props: ParleyMonitoringProps, { parley }: MonitoringMetrics): cloudwatch.IWidget[] {
  return [
    new cloudwatch.GraphWidget({
      title: 'Delivery latency, commit to post (ms)',
      left: [
        parley(MetricName.DeliveryLatency, 'p50', 'p50'),
        parley(MetricName.DeliveryLatency, 'p99', 'p99'),
      ],
      leftAnnotations: [{ value: props.deliveryLatencyP99AlarmMs, label: 'p99 alarm' }],
      width: 12,
    }),
    new cloudwatch.GraphWidget({
      title: 'Delivery (per minute)',
      left: [
        parley(MetricName.EventsDelivered, 'Sum', 'events posted'),
        parley(MetricName.GoneConnections, 'Sum', 'gone connections'),
        parley(MetricName.PostsDropped, 'Sum', 'posts dropped (throttled)'),
        parley(MetricName.FastPathPosts, 'Sum', 'posted by send (fast path)'),
        parley(MetricName.FastPathSkips, 'Sum', 'skipped by fanout (fast path)'),
      ],
      right: [
        parley(MetricName.DuplicatesSuppressed, 'Sum', 'duplicate sends'),
        parley(MetricName.SequencingRetries, 'Sum', 'sequencing retries'),
      ],
      width: 12,
    }),
  ];
}

function trafficWidgets(
  props: ParleyMonitoringProps,
  { parley, api }: MonitoringMetrics,
): cloudwatch.IWidget[] {
  const { send, fanout } = props.functions;
  return [
    new cloudwatch.GraphWidget({
      title: 'Connections and frames (per minute)',
      left: [api('ConnectCount'), api('MessageCount')],
      right: [
        api('ClientError'),
        api('IntegrationError'),
        api('ExecutionError'),
        parley(MetricName.TokenKeysUnavailable, 'Sum', 'token keys unavailable'),
        parley(MetricName.ConnectionsRefused, 'Sum', 'handshakes over the connection cap'),
      ],
      width: 12,
    }),
    new cloudwatch.GraphWidget({
      title: 'send and fanout duration (ms)',
      left: [
        send.metricDuration({ statistic: 'p50', label: 'send p50' }),
        send.metricDuration({ statistic: 'p99', label: 'send p99' }),
        fanout.metricDuration({ statistic: 'p50', label: 'fanout p50' }),
        fanout.metricDuration({ statistic: 'p99', label: 'fanout p99' }),
      ],
      width: 12,
    }),
  ];
}

function streamWidgets(props: ParleyMonitoringProps): cloudwatch.IWidget[] {
  return [
    new cloudwatch.GraphWidget({
      title: 'Stream lag (ms)',
      left: STREAM_CONSUMERS.map((consumer) =>
        props.functions[consumer.id].metric('IteratorAge', {
          statistic: 'Maximum',
          label: `${consumer.id} iterator age`,
        }),
      ),
      right: [
        new cloudwatch.Metric({
          namespace: 'AWS/Kinesis',
          metricName: 'IncomingRecords',
          dimensionsMap: { StreamName: props.stream.streamName },
          statistic: 'Sum',
          period: ONE_MINUTE,
        }),
      ],
      width: 12,
    }),
    new cloudwatch.GraphWidget({
      title: 'Function errors and throttles (per 5 minutes)',
      left: Object.entries(props.functions).map(([functionId, fn]) =>
        fn.metricErrors({ period: FIVE_MINUTES, label: functionId }),
      ),
      right: Object.entries(props.functions).map(([functionId, fn]) =>
        fn.metricThrottles({ period: FIVE_MINUTES, label: `${functionId} throttles` }),
      ),
      width: 12,
    }),
  ];
}

function capacityWidgets(props: ParleyMonitoringProps): cloudwatch.IWidget[] {
  return [
    new cloudwatch.GraphWidget({
      title: 'DynamoDB consumed capacity (units per minute)',
      left: Object.entries(props.tables).map(([tableId, table]) =>
        table.metricConsumedWriteCapacityUnits({ period: ONE_MINUTE, label: `${tableId} writes` }),
      ),
      right: Object.entries(props.tables).map(([tableId, table]) =>
        table.metricConsumedReadCapacityUnits({ period: ONE_MINUTE, label: `${tableId} reads` }),
      ),
      width: 12,
    }),
  ];
}

/**
 * Failed pushes as a percentage of pushes attempted (sent + failed) over 5 minutes, 0 below
 * the minimum volume. FILL puts 0 where a metric has no datapoint, so that a period in
 * which every push failed (no PushesSent at all) still counts (CloudWatch metric math's
 * FILL and IF: docs/capacity.md §10).
 */
function pushFailurePercent(parley: MonitoringMetrics['parley']): cloudwatch.MathExpression {
  const fiveMinutes = (name: MetricName) => parley(name, 'Sum').with({ period: FIVE_MINUTES });
  return new cloudwatch.MathExpression({
    expression:
      `IF(FILL(sent, 0) + FILL(failed, 0) >= ${PUSH_ALARM_MINIMUM_PUSHES}, ` +
      '100 * FILL(failed, 0) / (FILL(sent, 0) + FILL(failed, 0)), 0)',
    usingMetrics: { sent: fiveMinutes(MetricName.PushesSent), failed: fiveMinutes(MetricName.PushesFailed) },
    label: 'failed pushes (%)',
    period: FIVE_MINUTES,
  });
}

function pushWidgets(props: ParleyMonitoringProps, { parley }: MonitoringMetrics): cloudwatch.IWidget[] {
  return [
    new cloudwatch.GraphWidget({
      title: 'Pushes to devices not connected (per minute)',
      left: [
        parley(MetricName.PushesSent, 'Sum', 'sent'),
        parley(MetricName.PushesCoalesced, 'Sum', 'coalesced'),
        parley(MetricName.PushesFailed, 'Sum', 'failed'),
        parley(MetricName.PushRegistrationsRemoved, 'Sum', 'registrations removed (gone)'),
      ],
      width: 12,
    }),
    new cloudwatch.GraphWidget({
      title: 'Failed pushes (% over 5 minutes) and push-notifier duration (ms)',
      left: [pushFailurePercent(parley)],
      leftAnnotations: [{ value: PUSH_FAILURE_ALARM_PERCENT, label: 'alarm' }],
      right: [
        props.functions['push-notifier'].metricDuration({ statistic: 'p50', label: 'push-notifier p50' }),
        props.functions['push-notifier'].metricDuration({ statistic: 'p99', label: 'push-notifier p99' }),
      ],
      width: 12,
    }),
  ];
}
