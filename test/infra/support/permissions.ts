/**
 * The IAM permissions and the resource of a synthesized function, read from the template:
 * what the least-privilege tests hold each function to.
 */
import { expect } from 'vitest';
import type { FunctionId } from '../../../definitions/functions.js';
import type { synthesize, TemplateJson } from './synthesize.js';

type Deployment = ReturnType<typeof synthesize>;
type Resource = { Type: string; Properties: Record<string, TemplateJson> };
type Statement = { Action: string | string[]; Effect: string; Resource: unknown };

export function functionResource(deployment: Deployment, id: FunctionId): Resource {
  const logicalId = deployment.logicalId(deployment.stack.functions.functions[id]);
  return deployment.template.toJSON().Resources[logicalId] as Resource;
}

/** Every statement of every policy attached to the function's role, one action per entry. */
export function permissionsOf(
  deployment: Deployment,
  id: FunctionId,
): Array<{ action: string; resource: string }> {
  const roleId = functionResource(deployment, id).Properties.Role['Fn::GetAtt'][0] as string;
  const policies = Object.values(
    deployment.template.findResources('AWS::IAM::Policy') as Record<string, Resource>,
  ).filter((policy) => policy.Properties.Roles.some((role: { Ref: string }) => role.Ref === roleId));
  return policies.flatMap((policy) =>
    (policy.Properties.PolicyDocument.Statement as Statement[]).flatMap((statement) => {
      expect(statement.Effect).toBe('Allow');
      const actions = [statement.Action].flat();
      const resources = [statement.Resource].flat();
      return actions.flatMap((action) =>
        resources.map((resource) => ({ action, resource: JSON.stringify(resource) })),
      );
    }),
  );
}
