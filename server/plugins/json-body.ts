/**
 * The JSON body parser: secure-json-parse refuses `__proto__` and `constructor.prototype` keys (prototype
 * pollution), and says so with its own code instead of Fastify's generic "not valid JSON".
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import secureJson from 'secure-json-parse';

/** A body refused by the parser, with the code the error handler answers with. */
export class JsonBodyError extends Error {
  readonly statusCode = 400;
  constructor(
    readonly code: 'FST_ERR_CTP_EMPTY_JSON_BODY' | 'FST_ERR_CTP_INVALID_JSON_BODY' | 'JSON_PROTOTYPE_POLLUTION',
  ) {
    super(code);
    this.name = 'JsonBodyError';
  }
}

/** Parses `text` as JSON; keys that could pollute Object.prototype are refused, never filtered silently. */
export function parseJsonBody(text: string): unknown {
  if (text.length === 0) throw new JsonBodyError('FST_ERR_CTP_EMPTY_JSON_BODY');
  try {
    return secureJson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' });
  } catch {
    // Valid JSON refused by secure-json-parse can only be a forbidden key (plain JSON.parse creates an own
    // property, it does not touch the prototype, so parsing again to tell the two apart is safe).
    try {
      JSON.parse(text);
    } catch {
      throw new JsonBodyError('FST_ERR_CTP_INVALID_JSON_BODY');
    }
    throw new JsonBodyError('JSON_PROTOTYPE_POLLUTION');
  }
}

export const jsonBodyPlugin = fp(
  async (app: FastifyInstance) => {
    app.removeContentTypeParser('application/json');
    // No bodyLimit here: each route's own limit (or the server's) applies.
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
      try {
        done(null, parseJsonBody(body as string));
      } catch (error) {
        done(error as JsonBodyError, undefined);
      }
    });
  },
  { name: 'json-body' },
);
