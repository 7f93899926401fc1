/**
 * The Parley wire protocol (docs/protocol.md): the frames as zod schemas and types, the ids
 * and their rules, and the error codes. The server, the client SDK, the web app and the local
 * stack import it; it imports nothing of theirs.
 */
export * from './conversation-id.js';
export * from './frames.js';
