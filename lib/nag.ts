/**
 * cdk-nag findings we accept, each with its reason: the one way this project acknowledges
 * a rule, so that every suppression reads the same and none is made without a reason.
 */
import { Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * Acknowledges AwsSolutions rule `rule` on `scope` and everything under it; `finding`
 * narrows it to one finding of a granular rule (`Resource::…`, `Policy::…`).
 */
export function acknowledge(
  scope: IConstruct,
  rule: `AwsSolutions-${string}`,
  reason: string,
  finding?: string,
) {
  Validations.of(scope).acknowledge({ id: finding ? `${rule}[${finding}]` : rule, reason });
}
