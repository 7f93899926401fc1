/**
 * Preloaded into kinesis-mock (`node --require`): kinesis-mock 0.6 listens on 0.0.0.0, and
 * has no setting for the address (only KINESIS_MOCK_PLAIN_PORT and KINESIS_MOCK_TLS_PORT),
 * which would let any machine on the network read and write the local stack's streams.
 * It runs on Node.js, so every server it opens goes through `net.Server#listen`: this
 * makes each listen on 127.0.0.1 instead, whatever address it asked for.
 */
const net = require('node:net');

const LOOPBACK = '127.0.0.1';
const listen = net.Server.prototype.listen;

net.Server.prototype.listen = function listenOnLoopback(...args) {
  const [first, second] = args;
  if (typeof first === 'object' && first !== null && first.port !== undefined) {
    args[0] = { ...first, host: LOOPBACK };
  } else if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    // listen(port, host, …) or listen(port, callback): no host means every interface.
    if (typeof second === 'string') args[1] = LOOPBACK;
    else args.splice(1, 0, LOOPBACK);
  }
  return listen.apply(this, args);
};
