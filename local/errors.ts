/**
 * The local stack's errors, one hierarchy: each is named after its class (unless it stands
 * for an error of a function, which keeps that error's type) and keeps its cause.
 */
export abstract class LocalStackError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** An engine (DynamoDB Local, kinesis-mock) that could not start: Java missing, a port taken… */
export class EngineStartError extends LocalStackError {}

/** The web app could not be built or served. */
export class WebServerStartError extends LocalStackError {}

/** A synthesized template the deployed mode cannot run. */
export class TemplateError extends LocalStackError {}

/** A setting of `npm start` (a flag or a PARLEY_* variable) with a value it refuses. */
export class LocalSettingsError extends LocalStackError {}

/** A function that failed, as Lambda reports it: its error type is the name. */
export class FunctionError extends LocalStackError {
  constructor(
    readonly functionName: string,
    readonly errorType: string,
    message: string,
    readonly remoteStack?: string,
  ) {
    super(message);
    this.name = errorType;
  }
}
