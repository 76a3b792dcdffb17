/**
 * Idempotency keys for the routes that create (the IETF draft "The Idempotency-Key HTTP
 * Header Field", as Stripe's API does it). A client that sends `Idempotency-Key` can retry
 * a create whose answer it lost (a restart, a dropped connection, a 503) without making a
 * second experiment: the key, a fingerprint of the request and the answer are stored in
 * the transaction that creates, so they exist exactly when the experiments do, and a retry
 * gets the stored answer. A retry that arrives while the first request runs waits on the
 * key's row and then gets its answer; a failed request stores nothing, so its retry runs
 * again. Keys are per user and kept 24 hours.
 */
import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { IdempotencyKeyReusedError, ValidationError } from '../domain/errors.ts';
import { joinTransaction, type Store } from '../store/port.ts';
import { maxIdempotencyKeyLength } from './schemas.ts';

/** What a creating route answers: status, body and the new thing's address. */
export interface Created {
  status: number;
  body: unknown;
  location?: string;
}

/** Visible ASCII, no spaces; the draft's form is a quoted string, which is taken too. */
const keyPattern = new RegExp(`^[!-~]{1,${maxIdempotencyKeyLength}}$`);

/**
 * The request's Idempotency-Key, without the draft's optional double quotes, or null when
 * it has none.
 * @throws {ValidationError} (`invalid-idempotency-key`) for an empty, long or non-ASCII key.
 */
export function idempotencyKeyOf(request: FastifyRequest): string | null {
  const header = request.headers['idempotency-key'];
  if (header === undefined) return null;
  const raw = Array.isArray(header) ? header.join(',') : header;
  const key = /^".*"$/.test(raw) ? raw.slice(1, -1) : raw;
  if (!keyPattern.test(key))
    throw new ValidationError(
      'the Idempotency-Key header is not a key Drover takes',
      [
        {
          field: 'Idempotency-Key',
          message: `send 1-${maxIdempotencyKeyLength} visible ASCII characters without spaces, such as a random UUID`,
        },
      ],
      'invalid-idempotency-key',
    );
  return key;
}

/** JSON with object keys sorted, so the same body always hashes the same. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object')
    return `{${Object.keys(value)
      .sort()
      .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
      .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`)
      .join(',')}}`;
  return JSON.stringify(value) ?? 'null';
}

/** What makes two requests the same request: method, route, path parameters and body. */
function fingerprintOf(request: FastifyRequest): string {
  return createHash('sha256')
    .update(`${request.method} ${request.routeOptions.url}\n${canonicalJson(request.params)}\n`)
    .update(canonicalJson(request.body))
    .digest('hex');
}

/**
 * Runs `create` and answers with what it returns. With an Idempotency-Key, at most once
 * per user and key: `create` runs on the store joined to a transaction that also stores
 * the key and the answer, and a request that finds its key stored gets that answer again
 * (with `Idempotent-Replayed: true`) without running `create`.
 * @throws {IdempotencyKeyReusedError} when the key answered a different request.
 */
export async function replyOnce(
  store: Store,
  request: FastifyRequest,
  reply: FastifyReply,
  create: (store: Store) => Promise<Created>,
): Promise<FastifyReply> {
  const key = idempotencyKeyOf(request);
  if (key === null) return send(reply, await create(store), false);
  const userId = request.principal.userId;
  const fingerprint = fingerprintOf(request);
  // Housekeeping, outside the creating transaction so it holds no lock there.
  await store.query(`delete from idempotency_keys where user_id = $1 and created_at < now() - interval '24 hours'`, [
    userId,
  ]);
  const outcome = await store.transaction(async (tx) => {
    // A request with the same key in flight holds this row: the insert waits for its
    // commit (then inserts nothing) or its rollback (then claims the key itself).
    const claimed = await tx.query(
      `insert into idempotency_keys (user_id, key, fingerprint, status, body) values ($1, $2, $3, 0, 'null')
       on conflict do nothing returning key`,
      [userId, key, fingerprint],
    );
    if (claimed.length === 0) {
      const [stored] = await tx.query<{ fingerprint: string; status: number; body: unknown; location: string | null }>(
        'select fingerprint, status, body, location from idempotency_keys where user_id = $1 and key = $2',
        [userId, key],
      );
      if (stored.fingerprint !== fingerprint)
        throw new IdempotencyKeyReusedError(
          `Idempotency-Key ${JSON.stringify(key)} answered another request of yours; a key names one request and its retries`,
        );
      return {
        created: { status: stored.status, body: stored.body, location: stored.location ?? undefined },
        replayed: true,
      };
    }
    const created = await create(joinTransaction(store, tx));
    await tx.query(
      'update idempotency_keys set status = $3, body = $4, location = $5 where user_id = $1 and key = $2',
      [userId, key, created.status, JSON.stringify(created.body), created.location ?? null],
    );
    return { created, replayed: false };
  });
  return send(reply, outcome.created, outcome.replayed);
}

function send(reply: FastifyReply, { status, body, location }: Created, replayed: boolean): FastifyReply {
  reply.code(status);
  if (location) reply.header('location', location);
  if (replayed) reply.header('idempotent-replayed', 'true');
  return reply.send(body);
}
