/**
 * One error edge for the API: domain errors → their 4xx code; framework errors → a stable code;
 * anything else → 500 with the message hidden. Never a stack trace in a response.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { isDomainError } from '#shared/errors.ts';

export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

/** Fastify's own error codes that are the client's fault, mapped to ours. */
const FRAMEWORK_CODES: Record<string, { status: number; code: string; message: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'PAYLOAD_TOO_LARGE', message: 'The request body is too large.' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
    message: 'Send the body as application/json.',
  },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'INVALID_JSON', message: 'The JSON body is empty.' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'INVALID_JSON', message: 'The body is not valid JSON.' },
  // server/plugins/json-body.ts: `__proto__` / `constructor.prototype` keys could pollute Object.prototype.
  JSON_PROTOTYPE_POLLUTION: {
    status: 400,
    code: 'JSON_PROTOTYPE_POLLUTION',
    message: 'The body has a __proto__ or constructor.prototype key. Remove it.',
  },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: {
    status: 400,
    code: 'INVALID_CONTENT_LENGTH',
    message: 'Content-Length does not match the body.',
  },
  FST_ERR_BAD_URL: { status: 400, code: 'BAD_URL', message: 'The URL is malformed.' },
  FST_ERR_MAX_PARAM_LENGTH: { status: 414, code: 'URI_TOO_LONG', message: 'A path parameter is too long.' },
  FST_ERR_ASYNC_CONSTRAINT: { status: 400, code: 'BAD_REQUEST', message: 'The request is not valid.' },
};

/** The property a `required` or `additionalProperties` issue is about (Ajv puts it in params, not the path). */
function fieldOf(params: unknown): string {
  if (typeof params !== 'object' || params === null) return '';
  const { missingProperty, additionalProperty } = params as { missingProperty?: unknown; additionalProperty?: unknown };
  const field = missingProperty ?? additionalProperty;
  return typeof field === 'string' ? `/${field}` : '';
}

/** ioredis errors seen while Redis is down: the client is fine, the backing service is not. */
function isRedisUnavailable(error: Error): boolean {
  return (
    error.name === 'MaxRetriesPerRequestError' ||
    /enableOfflineQueue|Connection is closed|ECONNREFUSED|ENOENT.*redis|Stream isn't writeable/i.test(error.message)
  );
}

/** PostgreSQL SQLSTATEs that mean the server or the connection is gone, not that the query was wrong. */
const DATABASE_DOWN_STATES = new Set(['57P01', '57P02', '57P03', '53300']);
/** node-postgres's own messages for a lost or refused connection (they carry no SQLSTATE). */
const DATABASE_DOWN_MESSAGE =
  /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error)|is not currently accepting connections/i;

/**
 * Errors seen while PostgreSQL is unreachable or dropped our connection (checked on the error and its cause:
 * Drizzle wraps the driver's error). The pool reconnects by itself; the client should retry shortly.
 */
function isDatabaseUnavailable(error: Error): boolean {
  for (let current: unknown = error, depth = 0; current instanceof Error && depth < 3; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && (code.startsWith('08') || DATABASE_DOWN_STATES.has(code))) return true;
    if (DATABASE_DOWN_MESSAGE.test(current.message)) return true;
    current = current.cause;
  }
  return false;
}

/**
 * Fastify's `frameworkErrors` option: errors raised by the router before any route or error handler runs
 * (a malformed percent-encoding, an over-long path parameter) get our shape and code instead of Fastify's
 * default body, which echoes the URL.
 */
export function frameworkErrors(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  const known = FRAMEWORK_CODES[error.code] ?? {
    status: 400,
    code: 'BAD_REQUEST',
    message: 'The request is not valid.',
  };
  reply.status(known.status).send({ error: { code: known.code, message: known.message } });
}

export const errorHandlerPlugin = fp(
  async (app: FastifyInstance) => {
    app.setErrorHandler((error: FastifyError, request, reply) => {
      if (isDomainError(error)) {
        const body: ErrorBody = { error: { code: error.code, message: error.message } };
        if (error.details && error.status < 500) body.error.details = error.details;
        return reply.status(error.status).send(body);
      }
      if (error.validation) {
        const details = error.validation.map((issue) => ({
          path: `${error.validationContext ?? ''}${issue.instancePath}${fieldOf(issue.params)}`,
          message: issue.message,
        }));
        return reply
          .status(400)
          .send({ error: { code: 'VALIDATION_FAILED', message: 'The request is not valid.', details } });
      }
      const known = error.code ? FRAMEWORK_CODES[error.code] : undefined;
      if (known) return reply.status(known.status).send({ error: { code: known.code, message: known.message } });
      if (isDatabaseUnavailable(error)) {
        // The message is left out: a failed query's message carries its SQL and parameters.
        request.log.warn({ err: { name: error.name } }, 'Database unavailable');
        return reply.status(503).send({
          error: { code: 'DATABASE_UNAVAILABLE', message: 'A backing service is unavailable. Try again shortly.' },
        });
      }
      if (isRedisUnavailable(error)) {
        request.log.warn({ err: { name: error.name, message: error.message } }, 'Redis unavailable');
        return reply.status(503).send({
          error: { code: 'REDIS_UNAVAILABLE', message: 'A backing service is unavailable. Try again shortly.' },
        });
      }
      const status = error.statusCode ?? 500;
      if (status >= 400 && status < 500) {
        return reply.status(status).send({ error: { code: 'BAD_REQUEST', message: 'The request is not valid.' } });
      }
      request.log.error({ err: error }, 'Unhandled error');
      // 5xx details stay in the log (with the request id); the client gets a generic message.
      return reply.status(500).send({
        error: {
          code: 'INTERNAL_ERROR',
          message: `Something went wrong. Quote request id ${request.id} if it persists.`,
        },
      });
    });

    app.setNotFoundHandler((request, reply) => {
      reply.status(404).send({
        error: { code: 'NOT_FOUND', message: `No route for ${request.method} ${request.url.split('?')[0]}.` },
      });
    });
  },
  { name: 'error-handler' },
);
