/**
 * Notification routes: your defaults (events, email address, webhook URL), your webhook
 * secret (made and shown once, rotatable), and your delivery log. Everyone reads and
 * writes only their own, admins included: notifications are personal.
 */
import type { FastifyInstance } from 'fastify';
import { deliveryStates, notificationChannels } from '../../domain/notification.ts';
import {
  getNotificationSettings,
  rotateWebhookSecret,
  updateNotificationSettings,
  type SettingsChange,
} from '../../notifications/settings.ts';
import { getDelivery, listDeliveries, redeliver, type DeliveryFilter } from '../../notifications/delivery-log.ts';
import type { ApiDependencies } from '../dependencies.ts';
import { notificationEventListSchema, problemResponses, ref } from '../schemas.ts';

const idParams = { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] } as const;

const conflict = {
  409: {
    description: 'The delivery has not failed',
    content: { 'application/problem+json': { schema: ref('Problem') } },
  },
} as const;

export function registerNotificationRoutes(api: FastifyInstance, { store, notificationPolicy }: ApiDependencies): void {
  const owner = (request: { principal: { userId: string; gatewayId: string } }) => ({
    userId: request.principal.userId,
    gatewayId: request.principal.gatewayId,
  });

  api.get(
    '/notifications/settings',
    {
      schema: {
        operationId: 'getNotificationSettings',
        summary: 'Your notification settings',
        description:
          'Which experiment events notify you by default, your email address and webhook URL. An experiment may choose otherwise (`notify` on POST /experiments, PATCH /experiments/{id}).',
        tags: ['notifications'],
        response: { 200: ref('NotificationSettings'), ...problemResponses },
      },
    },
    async (request) => getNotificationSettings(store, owner(request), notificationPolicy),
  );

  api.patch<{ Body: SettingsChange }>(
    '/notifications/settings',
    {
      schema: {
        operationId: 'updateNotificationSettings',
        summary: 'Change your notification settings',
        description:
          'A key left out stays as it is; null removes the address. Setting a webhook URL when you have no secret makes one, answered once as `webhookSecret`. A webhook URL must be http(s), without user name or password; the platform decides which addresses webhooks may reach (public ones by default).',
        tags: ['notifications'],
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            events: notificationEventListSchema('The events that notify you by default; [] for none'),
            // A type list, not anyOf: with type coercion on, anyOf would turn null into "".
            email: { type: ['string', 'null'], maxLength: 254, description: 'One email address; null for none' },
            webhookUrl: { type: ['string', 'null'], maxLength: 2000, description: 'An http(s) URL; null for none' },
          },
        },
        response: { 200: ref('NotificationSettings'), ...problemResponses },
      },
    },
    async (request) => updateNotificationSettings(store, owner(request), request.body ?? {}, notificationPolicy),
  );

  api.post(
    '/notifications/settings/webhook-secret',
    {
      schema: {
        operationId: 'rotateWebhookSecret',
        summary: 'Make a new webhook secret',
        description:
          'Replaces your webhook signing secret at once and answers it, this once: deliveries from now on are signed with it (Drover-Signature: sha256=<HMAC-SHA256 of "<Drover-Timestamp>.<body>">).',
        tags: ['notifications'],
        response: { 201: ref('WebhookSecret'), ...problemResponses },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await rotateWebhookSecret(store, owner(request), notificationPolicy.platformKey)),
  );

  api.get<{ Querystring: { experiment?: string; state?: string; channel?: string; limit?: number; cursor?: string } }>(
    '/notifications/deliveries',
    {
      schema: {
        operationId: 'listDeliveries',
        summary: 'Your delivery log',
        description:
          'Your notifications, newest first: each with its channel, event, target, state, attempts and how each went. Pass `nextCursor` as `cursor` for the next page.',
        tags: ['notifications'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            experiment: { type: 'string', description: "One experiment's deliveries" },
            state: { type: 'string', enum: [...deliveryStates] },
            channel: { type: 'string', enum: [...notificationChannels] },
            limit: { type: 'integer', minimum: 1, maximum: 200 },
            cursor: { type: 'string' },
          },
        },
        response: { 200: ref('DeliveryPage'), ...problemResponses },
      },
    },
    async (request) => {
      const query = request.query;
      return listDeliveries(store, request.principal.userId, {
        experimentId: query.experiment,
        state: query.state as DeliveryFilter['state'],
        channel: query.channel as DeliveryFilter['channel'],
        limit: query.limit,
        cursor: query.cursor,
      });
    },
  );

  api.get<{ Params: { id: string } }>(
    '/notifications/deliveries/:id',
    {
      schema: {
        operationId: 'getDelivery',
        summary: 'One delivery',
        description: 'One of your notifications with every attempt.',
        tags: ['notifications'],
        params: idParams,
        response: { 200: ref('Delivery'), ...problemResponses },
      },
    },
    async (request) => getDelivery(store, request.principal.userId, request.params.id),
  );

  api.post<{ Params: { id: string } }>(
    '/notifications/deliveries/:id/redeliver',
    {
      schema: {
        operationId: 'redeliver',
        summary: 'Send a failed delivery again',
        description:
          'A failed delivery goes out again with a fresh count of attempts and the same idempotency key; its earlier attempts stay in the log. 409 unless it has failed.',
        tags: ['notifications'],
        params: idParams,
        response: { 200: ref('Delivery'), ...problemResponses, ...conflict },
      },
    },
    async (request) => redeliver(store, request.principal.userId, request.params.id),
  );
}
