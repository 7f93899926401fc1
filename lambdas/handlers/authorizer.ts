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
      principalId: userId,
      policyDocument: {
        Version: '2012-10-17',
        Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: event.methodArn }],
      },
      // Checked by $connect, which can refuse with 400 where an authorizer can only say 401/403.
      context: { userId, deviceId: event.queryStringParameters?.deviceId ?? '' },
    };
  };
  return requestAuthorizer(deps, authorize);
}

export const handler = createAuthorizerHandler(depsFromEnvironment('authorizer'));
