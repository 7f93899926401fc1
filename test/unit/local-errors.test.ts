import { describe, expect, it } from 'vitest';
import {
  EngineStartError,
  FunctionError,
  LocalSettingsError,
  LocalStackError,
  TemplateError,
  WebServerStartError,
} from '../../local/errors.js';

describe('the local stack’s errors', () => {
  it.each([EngineStartError, WebServerStartError, TemplateError, LocalSettingsError])(
    '%o is a LocalStackError named after its class that keeps its cause',
    (ErrorClass) => {
      const cause = new Error('port 8000 is taken');

      const error = new ErrorClass('DynamoDB Local did not start', { cause });

      expect(error).toBeInstanceOf(LocalStackError);
      expect(error.name).toBe(ErrorClass.name);
      expect(error.cause).toBe(cause);
    },
  );

  it('names a function’s error after the error type the function threw, as Lambda reports it', () => {
    const error = new FunctionError('send', 'ConfigurationError', 'PARLEY_EVENTS_STREAM is not set');

    expect(error).toBeInstanceOf(LocalStackError);
    expect(error.name).toBe('ConfigurationError');
    expect(error.functionName).toBe('send');
  });
});
