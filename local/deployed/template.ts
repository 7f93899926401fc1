/**
 * Reads a CloudFormation template that `cdk synth` wrote, and resolves the intrinsic
 * functions its properties use (Ref, Fn::GetAtt, Fn::Join, Fn::Sub, Fn::Select and the
 * pseudo parameters) to the local resources that stand in for the AWS ones.
 */
import { readFileSync } from 'node:fs';
import { TemplateError } from '../errors.js';

export interface TemplateResource {
  Type: string;
  Properties?: Record<string, unknown>;
  Metadata?: Record<string, unknown>;
}

export interface CloudFormationTemplate {
  Resources: Record<string, TemplateResource>;
}

export function readTemplate(path: string): CloudFormationTemplate {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new TemplateError(`cannot read the template ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (typeof parsed !== 'object' || parsed === null || !('Resources' in parsed)) {
    throw new TemplateError(`${path} is not a CloudFormation template: it has no Resources`);
  }
  return parsed as CloudFormationTemplate;
}

/** The logical ids of the resources of one type, in template order. */
export function resourcesOfType(
  template: CloudFormationTemplate,
  type: string,
): Array<[logicalId: string, resource: TemplateResource]> {
  return Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);
}

/** What a logical id stands for locally: its `Ref` value and its `Fn::GetAtt` attributes. */
export interface LocalResource {
  ref: string;
  attributes?: Record<string, string>;
}

export interface ResolutionContext {
  region: string;
  accountId: string;
  stackName: string;
  resources: ReadonlyMap<string, LocalResource>;
}

/**
 * The value of a template expression, with every intrinsic function resolved. An
 * expression that names a resource the local stack does not stand in for is an error
 * that names it, so a template the local stack cannot run fails at start-up.
 */
export function resolve(value: unknown, context: ResolutionContext): unknown {
  if (Array.isArray(value)) return value.map((item) => resolve(item, context));
  if (typeof value !== 'object' || value === null) return value;
  const entries = Object.entries(value);
  const [first] = entries;
  if (entries.length === 1 && first && isIntrinsic(first[0]))
    return resolveIntrinsic(first[0], first[1], context);
  return Object.fromEntries(entries.map(([key, item]) => [key, resolve(item, context)]));
}

/** `resolve`, for an expression that must come out as a string. */
export function resolveString(value: unknown, context: ResolutionContext, what: string): string {
  const resolved = resolve(value, context);
  if (typeof resolved !== 'string' && typeof resolved !== 'number') {
    throw new TemplateError(`${what}: expected a string, got ${JSON.stringify(resolved)}`);
  }
  return String(resolved);
}

function isIntrinsic(key: string): boolean {
  return key === 'Ref' || key.startsWith('Fn::');
}

function resolveIntrinsic(name: string, argument: unknown, context: ResolutionContext): unknown {
  switch (name) {
    case 'Ref':
      return refOf(String(argument), context);
    case 'Fn::GetAtt': {
      const [logicalId, attribute] = Array.isArray(argument) ? argument : String(argument).split('.');
      const value = context.resources.get(String(logicalId))?.attributes?.[String(attribute)];
      if (value === undefined) {
        throw new TemplateError(
          `Fn::GetAtt ${logicalId}.${attribute}: the local stack does not stand in for it`,
        );
      }
      return value;
    }
    case 'Fn::Join': {
      const [separator, parts] = argument as [string, unknown[]];
      return (resolve(parts, context) as unknown[]).map(String).join(separator);
    }
    case 'Fn::Select': {
      const [index, list] = argument as [unknown, unknown];
      return (resolve(list, context) as unknown[])[Number(resolve(index, context))];
    }
    case 'Fn::Split': {
      const [separator, text] = argument as [string, unknown];
      return String(resolve(text, context)).split(separator);
    }
    case 'Fn::Sub': {
      const [text, variables] = Array.isArray(argument) ? argument : [argument, {}];
      const given = resolve(variables, context) as Record<string, unknown>;
      return String(text).replace(/\$\{([^}]+)\}/g, (_match, variable: string) => {
        if (variable in given) return String(given[variable]);
        const [logicalId, attribute] = variable.split('.');
        if (attribute) return String(resolveIntrinsic('Fn::GetAtt', [logicalId, attribute], context));
        return refOf(variable, context);
      });
    }
    default:
      throw new TemplateError(`${name}: the local stack does not resolve this intrinsic function`);
  }
}

function refOf(logicalId: string, context: ResolutionContext): string {
  switch (logicalId) {
    case 'AWS::Region':
      return context.region;
    case 'AWS::AccountId':
      return context.accountId;
    case 'AWS::Partition':
      return 'aws';
    case 'AWS::URLSuffix':
      return 'amazonaws.com';
    case 'AWS::StackName':
      return context.stackName;
  }
  const resource = context.resources.get(logicalId);
  if (!resource) throw new TemplateError(`Ref ${logicalId}: the local stack does not stand in for it`);
  return resource.ref;
}
