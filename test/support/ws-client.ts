/** The end-to-end tests speak the protocol through the benchmarks' client, so that there is one such client. */
export { type Frame, FrameClient as TestClient } from '../../bench/frame-client.js';
