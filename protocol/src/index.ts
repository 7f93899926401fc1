/**
 * The Parley wire protocol (docs/protocol.md): the frames as zod schemas and types, the ids
 * and their rules, the error codes and the limits. The server, the client SDK, the web app
 * and the local stack import it; it imports nothing of theirs.
 */
export * from './client-frames.js';
export * from './conversation-id.js';
export * from './errors.js';
export * from './ids.js';
export * from './limits.js';
export * from './push.js';
export * from './server-frames.js';
