/**
 * API keys of the caller: list, create (the key is in this response only), rotate and revoke. Only a signed-in
 * person can create or rotate keys; a key may list and revoke its owner's keys. Someone else's key id answers
 * 404, exactly like an unknown one, so ids cannot be probed.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import Type from 'typebox';
import {
  API_KEY_DEFAULT_EXPIRY_DAYS,
  API_KEY_DEFAULT_RATE_LIMIT_PER_MINUTE,
  API_KEY_LENGTH,
  API_KEY_MAX_EXPIRY_DAYS,
  API_KEY_MAX_RATE_LIMIT_PER_MINUTE,
  API_KEY_NAME_MAX_LENGTH,
  type ApiKeyActionContext,
  type ApiKeyService,
  type ApiKeyView,
} from '#shared/api-keys/index.ts';
import type { Principal } from '#shared/identity/principal.ts';
import { PERMISSIONS } from '#shared/identity/rbac.ts';
import { STEP_UP_SECONDS } from '#shared/mfa/index.ts';

export interface ApiKeyRoutesOptions {
  service: ApiKeyService;
}

const ErrorBody = Type.Object({
  error: Type.Object({ code: Type.String(), message: Type.String(), details: Type.Optional(Type.Unknown()) }),
});
const PermissionName = Type.Enum(PERMISSIONS, { description: 'A permission (see the RBAC table).' });
const ApiKeyBody = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.String(),
  displayPrefix: Type.String({ description: 'First 8 and last 4 characters of the key, e.g. tsp_AbC1…x9Zq.' }),
  scopes: Type.Array(PermissionName, { description: 'The scopes the key was granted.' }),
  effectiveScopes: Type.Array(PermissionName, {
    description: 'What the key may do now: its scopes narrowed to the owner’s current role.',
  }),
  rateLimitPerMinute: Type.Integer(),
  createdAt: Type.String({ format: 'date-time' }),
  expiresAt: Type.String({ format: 'date-time' }),
  lastUsedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  lastUsedIp: Type.Union([
    Type.String({ description: 'The network (IPv4 /24, IPv6 /48), never the address.' }),
    Type.Null(),
  ]),
  revokedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  replacedById: Type.Union([Type.String({ format: 'uuid' }), Type.Null()]),
  status: Type.Union([
    Type.Literal('active'),
    Type.Literal('rotating'),
    Type.Literal('expired'),
    Type.Literal('revoked'),
  ]),
});
const SecretKey = Type.String({
  minLength: API_KEY_LENGTH,
  maxLength: API_KEY_LENGTH,
  description: 'The API key. Shown in this response only: store it now (it cannot be shown again).',
});
const KeyParams = Type.Object({ id: Type.String({ format: 'uuid', maxLength: 36 }) }, { additionalProperties: false });
const CreateBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: API_KEY_NAME_MAX_LENGTH }),
    scopes: Type.Optional(
      Type.Array(PermissionName, {
        minItems: 1,
        maxItems: PERMISSIONS.length,
        uniqueItems: true,
        description: 'Default: every non-admin permission of your role. Each must be one your role grants.',
      }),
    ),
    expiresInDays: Type.Optional(
      Type.Integer({ minimum: 1, maximum: API_KEY_MAX_EXPIRY_DAYS, default: API_KEY_DEFAULT_EXPIRY_DAYS }),
    ),
    rateLimitPerMinute: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: API_KEY_MAX_RATE_LIMIT_PER_MINUTE,
        default: API_KEY_DEFAULT_RATE_LIMIT_PER_MINUTE,
      }),
    ),
  },
  { additionalProperties: false },
);
const ERRORS = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 429: ErrorBody };

function toBody(view: ApiKeyView) {
  return {
    ...view,
    createdAt: view.createdAt.toISOString(),
    expiresAt: view.expiresAt.toISOString(),
    lastUsedAt: view.lastUsedAt?.toISOString() ?? null,
    revokedAt: view.revokedAt?.toISOString() ?? null,
  };
}

/** The caller, as the auth plugin set it (every route here declares a permission, so it is always set). */
function principalOf(request: FastifyRequest): Principal {
  const { principal } = request;
  if (!principal) throw new Error('api-key routes need the auth plugin: no principal on the request');
  return principal;
}

function contextOf(request: FastifyRequest, principal: Principal): ApiKeyActionContext {
  return {
    actor: principal.kind === 'api_key' ? { type: 'api_key', keyId: principal.keyId } : { type: 'user' },
    source: 'api',
    requestId: request.id,
    ip: request.ip,
  };
}

/** A response carrying a key must not be kept by any cache or proxy. */
function noStore(reply: FastifyReply) {
  reply.header('cache-control', 'no-store');
}

export async function apiKeyRoutes(fastify: FastifyInstance, options: ApiKeyRoutesOptions) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { service } = options;

  app.get(
    '/api/v1/api-keys',
    {
      config: { permission: 'api-keys:read' },
      schema: {
        summary: 'List your API keys (never the keys themselves)',
        tags: ['api-keys'],
        response: { 200: Type.Object({ apiKeys: Type.Array(ApiKeyBody) }), ...ERRORS },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      return { apiKeys: (await service.list(principal.userId)).map(toBody) };
    },
  );

  app.post(
    '/api/v1/api-keys',
    {
      // A person with MFA confirms with a fresh code before minting or renewing a key (the MFA issue).
      config: { permission: 'api-keys:write', requires: ['redis'], stepUpIfEnrolledSeconds: STEP_UP_SECONDS },
      schema: {
        summary: 'Create an API key (the key is in this response only)',
        description:
          'Needs a signed-in session: API keys cannot create keys (403 API_KEY_CANNOT_MANAGE_KEYS). A scope your ' +
          'role lacks is refused with 403 API_KEY_SCOPE_NOT_ALLOWED.',
        tags: ['api-keys'],
        body: CreateBody,
        response: { 201: Type.Object({ key: SecretKey, apiKey: ApiKeyBody }), 409: ErrorBody, ...ERRORS },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const { body } = request;
      const created = await service.create({
        userId: principal.userId,
        name: body.name,
        scopes: body.scopes,
        expiresInDays: body.expiresInDays,
        rateLimitPerMinute: body.rateLimitPerMinute,
        ...contextOf(request, principal),
      });
      noStore(reply);
      return reply.status(201).send({ key: created.key, apiKey: toBody(created.apiKey) });
    },
  );

  app.post(
    '/api/v1/api-keys/:id/rotate',
    {
      // A person with MFA confirms with a fresh code before minting or renewing a key (the MFA issue).
      config: { permission: 'api-keys:write', requires: ['redis'], stepUpIfEnrolledSeconds: STEP_UP_SECONDS },
      schema: {
        summary: 'Rotate an API key: a new key now, the old one working for 24 hours more',
        description:
          'The new key has the same name, scopes (within your current role), rate limit and lifetime. Needs a ' +
          'signed-in session.',
        tags: ['api-keys'],
        params: KeyParams,
        response: {
          201: Type.Object({ key: SecretKey, apiKey: ApiKeyBody, previous: ApiKeyBody }),
          409: ErrorBody,
          ...ERRORS,
        },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const rotated = await service.rotate({
        userId: principal.userId,
        keyId: request.params.id,
        ...contextOf(request, principal),
      });
      noStore(reply);
      return reply
        .status(201)
        .send({ key: rotated.key, apiKey: toBody(rotated.apiKey), previous: toBody(rotated.previous) });
    },
  );

  app.delete(
    '/api/v1/api-keys/:id',
    {
      config: { permission: 'api-keys:write' },
      schema: {
        summary: 'Revoke an API key (it stops working at once)',
        tags: ['api-keys'],
        params: KeyParams,
        response: { 204: Type.Null(), ...ERRORS },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      await service.revoke({ userId: principal.userId, keyId: request.params.id, ...contextOf(request, principal) });
      return reply.status(204).send(null);
    },
  );
}
