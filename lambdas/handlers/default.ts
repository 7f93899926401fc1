/** `$default`: frames that name no known action, or are not JSON at all, get `bad_request`. */
import { ROUTED_ACTIONS } from '@parley/protocol';
import { BadRequestError } from '../domain/errors.js';
import { answeredRoute, type LoggedEvent, parseJsonObject } from '../middleware/websocket-route.js';
import { type DepsProvider, depsFromEnvironment } from '../runtime.js';

export function createDefaultHandler(deps: DepsProvider) {
  const serve = async (event: LoggedEvent): Promise<never> => {
    if (event.isBase64Encoded)
      throw new BadRequestError('frame: must be a UTF-8 JSON text frame, not binary');
    const frame = parseJsonObject(event.body);
    const { action } = frame;
    if (action === undefined) throw new BadRequestError('action: is required');
    if (typeof action !== 'string') throw new BadRequestError('action: must be a string');
    throw new BadRequestError(
      `action: unknown action ${JSON.stringify(action.slice(0, 64))}; expected one of ${ROUTED_ACTIONS.join(', ')}`,
    );
  };
  return answeredRoute(deps, serve);
}

export const handler = createDefaultHandler(depsFromEnvironment('default'));
