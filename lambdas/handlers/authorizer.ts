/**
 * `$connect` REQUEST authorizer: verifies the `token` query parameter and hands the user id
 * and device id to every later route of the connection as authorizer context.
 */
import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { MetricName } from '../../definitions/metrics.js';
import { InvalidTokenError } from '../domain/errors.js';
import { requestAuthorizer } from '../middleware/lambda-function.js';
import { type DepsProvider, depsFromEnvironment } from '../runtime.js';

export function createAuthorizerHandler(deps: DepsProvider) {
  const authorize = async (event: APIGatewayRequestAuthorizerEvent): Promise<APIGatewayAuthorizerResult> => {
    const token = event.queryStringParameters?.token;
    if (!token) throw new Error('Unauthorized');
    const origin = headerOf(event, 'origin');
    if (!originAllowed(origin, deps().config.tokens?.allowedOrigins)) {
      deps().logger.info('handshake refused: its Origin is not allowed', {
        connectionId: event.requestContext?.connectionId,
        origin,
      });
      // A Deny policy: API Gateway answers 403, as for a page the server will not serve.
      return policyOf('anonymous', 'Deny', event.methodArn);
    }
    let userId: string;
    try {
      ({ userId } = await deps().verifyToken(token));
    } catch (error) {
      if (!(error instanceof InvalidTokenError)) {
        // Our failure (the JWKS or the signing key could not be read): the client gets 500,
        // not a refusal that would tell it its token is bad, and the error shows in the alarms.
        const { logger, metrics } = deps();
        logger.error('could not verify a token: its keys could not be read', { error });
        metrics.record(MetricName.TokenKeysUnavailable, 1);
        throw error;
      }
      deps().logger.info('token refused', {
        connectionId: event.requestContext?.connectionId,
        deviceId: event.queryStringParameters?.deviceId,
        reason: error instanceof Error ? error.message : String(error),
      });
      // API Gateway answers the upgrade with 401 for exactly this error message.
      throw new Error('Unauthorized');
    }
    return {
      ...policyOf(userId, 'Allow', event.methodArn),
      // Checked by $connect, which can refuse with 400 where an authorizer can only say 401/403.
      context: { userId, deviceId: event.queryStringParameters?.deviceId ?? '' },
    };
  };
  return requestAuthorizer(deps, authorize);
}

function policyOf(
  principalId: string,
  effect: 'Allow' | 'Deny',
  methodArn: string,
): APIGatewayAuthorizerResult {
  return {
    principalId,
    policyDocument: {
      Version: '2012-10-17',
      Statement: [{ Action: 'execute-api:Invoke', Effect: effect, Resource: methodArn }],
    },
  };
}

/** A header of the handshake, whatever the case the client wrote its name in. */
function headerOf(event: APIGatewayRequestAuthorizerEvent, name: string): string | undefined {
  const entry = Object.entries(event.headers ?? {}).find(([key]) => key.toLowerCase() === name);
  return entry?.[1];
}

/**
 * A browser always sends the page's Origin with a WebSocket handshake, and a page on another
 * site could otherwise connect with a token it obtained. Native clients send none; they are
 * not what this guards against, so a handshake without one passes. No list allows any.
 */
function originAllowed(origin: string | undefined, allowed: string[] | undefined): boolean {
  if (!allowed || allowed.length === 0 || origin === undefined) return true;
  return allowed.includes(origin);
}

export const handler = createAuthorizerHandler(depsFromEnvironment('authorizer'));
