/**
 * The WebSocket routes that API Gateway answers itself, with no function behind them: a
 * MOCK integration whose integration response template writes the answer, and a route
 * response that sends it back (docs/adr/0009-keep-alive.md). The CDK stack builds them from
 * this list, and the local gateway answers them with `answer`, which must write what the
 * template does. Plain data, importing nothing from `lambdas/`, `lib/` or `local/`.
 */

export interface MockRouteDefinition {
  routeKey: string;
  /**
   * The integration request template. A MOCK integration takes its status from the
   * `statusCode` this writes; the frame's `requestId` rides along, so that the response
   * template finds it whether `$input` there is the client's frame or this output.
   */
  requestTemplate: string;
  /** The integration response template: the frame API Gateway sends back. */
  responseTemplate: string;
  /** What `responseTemplate` writes for a client's frame, for the local gateway. */
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
  responseTemplate: `{"type":"pong","requestId":${REQUEST_ID}}`,
  answer: (frame) => ({ type: 'pong', requestId: textOf(frame.requestId) }),
};

export const MOCK_ROUTES: readonly MockRouteDefinition[] = [pingRoute];

/** What `$input.path` gives a template for a value: nothing for a missing one, its text otherwise. */
function textOf(value: unknown): string {
  if (value === undefined || value === null) return '';
  return typeof value === 'string' ? value : JSON.stringify(value);
}
