/**
 * What API Gateway makes of a REQUEST authorizer's answer: the IAM policy decides whether the
 * handshake goes on, and the context reaches every route of the connection.
 */

export type Decision =
  | { kind: 'allow'; principalId: string; context: Record<string, string> }
  | { kind: 'deny' }
  | { kind: 'invalid'; reason: string };

/** An explicit Deny wins, then an Allow of `execute-api:Invoke` on the method ARN; else 403. */
export function decide(answer: unknown, methodArn: string): Decision {
  if (typeof answer !== 'object' || answer === null) return { kind: 'invalid', reason: 'not an object' };
  const { principalId, policyDocument, context } = answer as Record<string, unknown>;
  if (typeof principalId !== 'string') return { kind: 'invalid', reason: 'principalId must be a string' };
  const statements = (policyDocument as { Statement?: unknown } | undefined)?.Statement;
  if (!Array.isArray(statements))
    return { kind: 'invalid', reason: 'policyDocument.Statement must be a list' };
  const stringified = stringifyContext(context);
  if (typeof stringified === 'string') return { kind: 'invalid', reason: stringified };
  const applies = (statement: Record<string, unknown>) =>
    listOf(statement.Action).some((action) => matchesAction(action)) &&
    listOf(statement.Resource).some((resource) => wildcardMatch(resource, methodArn));
  const relevant = statements.filter(
    (statement): statement is Record<string, unknown> => typeof statement === 'object' && statement !== null,
  );
  if (relevant.some((statement) => statement.Effect === 'Deny' && applies(statement)))
    return { kind: 'deny' };
  if (relevant.some((statement) => statement.Effect === 'Allow' && applies(statement))) {
    return { kind: 'allow', principalId, context: stringified };
  }
  return { kind: 'deny' };
}

/**
 * The authorizer's `context` with its values as strings, as API Gateway hands them to routes,
 * or why it is refused: only strings, numbers and booleans are allowed.
 */
function stringifyContext(context: unknown): Record<string, string> | string {
  const stringified: Record<string, string> = {};
  if (context === undefined || context === null) return stringified;
  if (typeof context !== 'object' || Array.isArray(context)) return 'context';
  for (const [key, value] of Object.entries(context)) {
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      return `context.${key} must be a string, number or boolean`;
    }
    stringified[key] = String(value);
  }
  return stringified;
}

function listOf(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

function matchesAction(action: string): boolean {
  return ['*', 'execute-api:*', 'execute-api:invoke'].some((pattern) =>
    wildcardMatch(action.toLowerCase(), pattern),
  );
}

/** IAM's wildcards: `*` matches any run of characters, `?` any one character. */
export function wildcardMatch(pattern: string, value: string): boolean {
  const source = pattern
    .split('')
    .map((char) => (char === '*' ? '.*' : char === '?' ? '.' : char.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`).test(value);
}
