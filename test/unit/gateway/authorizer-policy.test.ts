/**
 * What the gateway makes of a REQUEST authorizer's answer, as API Gateway evaluates its policy.
 */
import { describe, expect, it } from 'vitest';
import { decide, wildcardMatch } from '../../../local/gateway/authorizer-policy.js';

const METHOD_ARN = 'arn:aws:execute-api:us-east-1:000000000000:abc123/local/$connect';

function answer(statements: unknown[], extra: Record<string, unknown> = {}) {
  return { principalId: 'alice', policyDocument: { Version: '2012-10-17', Statement: statements }, ...extra };
}

describe('the authorizer policy', () => {
  it.each([
    ['the method ARN itself', { Action: 'execute-api:Invoke', Effect: 'Allow', Resource: METHOD_ARN }],
    [
      'a resource with wildcards',
      { Action: 'execute-api:Invoke', Effect: 'Allow', Resource: 'arn:aws:execute-api:*:*:abc123/local/*' },
    ],
    ['any action of execute-api', { Action: 'execute-api:*', Effect: 'Allow', Resource: '*' }],
    [
      'a list of actions and resources',
      { Action: ['s3:GetObject', '*'], Effect: 'Allow', Resource: [METHOD_ARN] },
    ],
  ])('allows a statement that allows %s', (_name, statement) => {
    expect(decide(answer([statement]), METHOD_ARN)).toEqual({
      kind: 'allow',
      principalId: 'alice',
      context: {},
    });
  });

  it('lets an explicit Deny win over an Allow of the same method', () => {
    // prepare
    const allow = { Action: 'execute-api:Invoke', Effect: 'Allow', Resource: METHOD_ARN };
    const deny = { Action: 'execute-api:Invoke', Effect: 'Deny', Resource: 'arn:aws:execute-api:*' };

    // act
    const decision = decide(answer([allow, deny]), METHOD_ARN);

    // assess
    expect(decision).toEqual({ kind: 'deny' });
  });

  it.each([
    ['an Allow of another action', { Action: 's3:GetObject', Effect: 'Allow', Resource: METHOD_ARN }],
    [
      'an Allow of another stage',
      { Action: 'execute-api:Invoke', Effect: 'Allow', Resource: METHOD_ARN.replace('/local/', '/prod/') },
    ],
    ['no statement that is an object', 'Allow'],
  ])('denies a policy with %s', (_name, statement) => {
    expect(decide(answer([statement]), METHOD_ARN)).toEqual({ kind: 'deny' });
  });

  it('hands on the context with its values as strings', () => {
    // prepare
    const allow = { Action: 'execute-api:Invoke', Effect: 'Allow', Resource: METHOD_ARN };

    // act
    const decision = decide(
      answer([allow], { context: { userId: 'alice', admin: false, level: 3 } }),
      METHOD_ARN,
    );

    // assess
    expect(decision).toEqual({
      kind: 'allow',
      principalId: 'alice',
      context: { userId: 'alice', admin: 'false', level: '3' },
    });
  });

  it.each([
    ['an answer that is not an object', null, 'not an object'],
    ['a principalId that is not a string', { ...answer([]), principalId: 7 }, 'principalId must be a string'],
    [
      'a policy without a list of statements',
      { principalId: 'alice', policyDocument: {} },
      'policyDocument.Statement must be a list',
    ],
    ['a context that is a list', answer([], { context: ['alice'] }), 'context'],
    [
      'a context value that is an object',
      answer([], { context: { user: { id: 'alice' } } }),
      'context.user must be a string, number or boolean',
    ],
  ])('refuses %s, naming why', (_name, value, reason) => {
    expect(decide(value, METHOD_ARN)).toEqual({ kind: 'invalid', reason });
  });
});

describe('IAM wildcards', () => {
  it.each([
    ['arn:*', 'arn:aws:execute-api', true],
    ['execute-api:Inv?ke', 'execute-api:Invoke', true],
    ['a.b', 'axb', false],
    ['abc', 'abcd', false],
  ])('matches %s against %s: %s', (pattern, value, matches) => {
    expect(wildcardMatch(pattern, value)).toBe(matches);
  });
});
