/**
 * The WebSocket routes that API Gateway serves itself, with no function behind them: a
 * MOCK integration, and for a route that answers, an integration response whose template
 * writes the answer and a route response that sends it back (docs/adr/0009-keep-alive.md).
 * A route with no `response` is one-way: API Gateway answers nothing. The CDK stack builds
 * them from this list, and the local gateway answers them with `response.answer`, which
 * must write what the template does. Plain data, importing nothing from `lambdas/`, `lib/`
 * or `local/`.
 */

export interface MockRouteDefinition {
  routeKey: string;
  /**
   * The integration request template. A MOCK integration takes its status from the
   * `statusCode` this writes; the frame's `requestId` rides along, so that the response
   * template finds it whether `$input` there is the client's frame or this output.
   */
  requestTemplate: string;
  /** What API Gateway sends back; none makes the route one-way. */
  response?: MockRouteResponse;
}

export interface MockRouteResponse {
  /** The integration response template: the frame API Gateway sends back. */
  template: string;
  /** What `template` writes for a client's frame, for the local gateway. */
  answer(frame: Readonly<Record<string, unknown>>): Record<string, unknown>;
}

/** `$input.path('$.requestId')` as a JSON string, escaped so that the frame stays JSON. */
const REQUEST_ID = `"$util.escapeJavaScript($input.path('$.requestId'))"`;

/**
 * `ping`, answered `pong` with the frame's `requestId`. A Lambda function would add an
 * invocation per keep-alive and nothing else: the answer needs no state.
 */
export const pingRoute: MockRouteDefinition = {
  routeKey: 'ping',
  requestTemplate: `{"statusCode":200,"requestId":${REQUEST_ID}}`,
  response: {
    template: `{"type":"pong","requestId":${REQUEST_ID}}`,
    answer: (frame) => ({ type: 'pong', requestId: textOf(frame.requestId) }),
  },
};

/**
 * `keepalive` (protocol 1.6), answered by nothing: a route with no route response is
 * one-way, and API Gateway then returns nothing over the connection whatever the
 * integration says. The frame is still one the connection carried, so it restarts the
 * idle limit, for one billed message where `ping` costs two.
 */
export const keepaliveRoute: MockRouteDefinition = {
  routeKey: 'keepalive',
  requestTemplate: '{"statusCode":200}',
};

export const MOCK_ROUTES: readonly MockRouteDefinition[] = [pingRoute, keepaliveRoute];

/** What `$input.path` gives a template for a value: nothing for a missing one, its text otherwise. */
function textOf(value: unknown): string {
  if (value === undefined || value === null) return '';
  return typeof value === 'string' ? value : JSON.stringify(value);
}
