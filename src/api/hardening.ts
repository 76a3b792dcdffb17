/**
 * What the API does to every request before a route sees it: security headers, text that a
 * store can hold (no NUL, no lone surrogates, valid UTF-8 and percent-encoding), where
 * `?access_token=` is accepted, a per-user write rate and a per-user cap on open event
 * streams. One module, so that no route has to remember any of it.
 */
import { isUtf8 } from 'node:buffer';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import { LimitReachedError, ValidationError } from '../domain/errors.ts';
import { sendProblem } from './problem.ts';

/** Per-user limits of one API process (see `limits` in config.ts). */
export interface ApiLimits {
  writesPerWindow: number;
  writeWindowMs: number;
  eventStreamsPerUser: number;
  uploadQuotaBytes: number;
}

/** The routes that stream server-sent events: the only ones that take `?access_token=`. */
const eventStreamRoutes = new Set(['/api/v1/experiments/:id/events', '/api/v1/experiments/changes']);

/** True when `request` opens an event stream (the events route answers JSON unless asked for SSE). */
function opensEventStream(request: FastifyRequest): boolean {
  const route = request.routeOptions.url;
  if (request.method !== 'GET' || !route || !eventStreamRoutes.has(route)) return false;
  return route.endsWith('/changes') || String(request.headers.accept ?? '').includes('text/event-stream');
}

// A UTF-16 half without its other half: JSON and percent-decoding can produce one, no
// UTF-8 encoder can store it, and PostgreSQL refuses NUL in text.
const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const maximumDepth = 64;

/** Why `text` cannot be stored as text, or null when it can. */
function textProblem(text: string): string | null {
  if (text.includes('\u0000')) return 'must not contain a NUL character (\\u0000)';
  if (loneSurrogate.test(text)) return 'must be valid Unicode text (it holds a lone UTF-16 surrogate)';
  return null;
}

/**
 * The first string (value or key) in `value` that is not valid text, with its field path
 * (`body.inputs.label`), or null. Nesting deeper than 64 levels is refused too: no
 * Drover document is that deep, and walking it is work an attacker chooses.
 */
export function findInvalidText(value: unknown, field: string, depth = 0): { field: string; message: string } | null {
  if (typeof value === 'string') {
    const message = textProblem(value);
    return message ? { field, message } : null;
  }
  if (value === null || typeof value !== 'object' || Buffer.isBuffer(value)) return null;
  if (depth >= maximumDepth) return { field, message: `is nested more than ${maximumDepth} levels deep` };
  for (const [key, child] of Object.entries(value)) {
    const childField = Array.isArray(value) ? `${field}.${key}` : `${field}.${printable(key)}`;
    const keyMessage = textProblem(key);
    if (keyMessage) return { field: childField, message: `has a key that ${keyMessage}` };
    const found = findInvalidText(child, childField, depth + 1);
    if (found) return found;
  }
  return null;
}

/**
 * Path parameters under the names the OpenAPI document gives them, for error fields: the
 * download route's wildcard `*` is documented as `path`.
 */
function documentedParams(params: unknown): unknown {
  if (!params || typeof params !== 'object' || !Object.hasOwn(params, '*')) return params;
  const { '*': path, ...named } = params as Record<string, unknown>;
  return { ...named, path };
}

/** A field name safe to echo back: what `JSON.stringify` would escape, escaped. */
function printable(name: string): string {
  return textProblem(name) ? JSON.stringify(name).slice(1, -1) : name;
}

/** The range of PostgreSQL's `integer`, which Drover's integer columns use. */
const storeInteger = { minimum: -(2 ** 31), maximum: 2 ** 31 - 1 };

/** Gives every `type: integer` in a JSON schema without a bound the store's bound (in place). */
function boundIntegers(schema: unknown, depth = 0): void {
  if (!schema || typeof schema !== 'object' || depth > 32) return;
  const node = schema as Record<string, any>;
  if (node.type === 'integer') {
    node.minimum ??= storeInteger.minimum;
    node.maximum ??= storeInteger.maximum;
  }
  for (const value of Object.values(node)) {
    if (Array.isArray(value)) value.forEach((item) => boundIntegers(item, depth + 1));
    else boundIntegers(value, depth + 1);
  }
}

function invalidText(found: { field: string; message: string }): ValidationError {
  return new ValidationError(`${found.field} is not valid text`, [found], 'invalid-text');
}

/**
 * The query string's fields whose percent-encoding does not decode to UTF-8 text
 * (`%ZZ`, `%C0%80`, an encoded surrogate). The query parser keeps those as they were
 * written, which would silently look up a different value.
 */
function checkQueryEncoding(url: string): void {
  const start = url.indexOf('?');
  if (start < 0) return;
  for (const part of url.slice(start + 1).split('&')) {
    if (part === '') continue;
    const separator = part.indexOf('=');
    const [key, value] = separator < 0 ? [part, ''] : [part.slice(0, separator), part.slice(separator + 1)];
    for (const piece of [key, value]) {
      try {
        decodeURIComponent(piece.replaceAll('+', ' '));
      } catch {
        let name = key;
        try {
          name = decodeURIComponent(key);
        } catch {}
        throw invalidText({ field: `querystring.${printable(name)}`, message: 'is not valid percent-encoded UTF-8' });
      }
    }
  }
}

/**
 * Fastify's own routing errors (a path that does not percent-decode to UTF-8, a parameter
 * longer than the router takes) as problem+json. Pass as the `frameworkErrors` option.
 */
export function handleFrameworkError(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  const badUrl = error.code === 'FST_ERR_BAD_URL';
  sendProblem(reply, {
    type: 'urn:drover:problem:invalid-text',
    title: 'Bad Request',
    status: 400,
    detail: badUrl ? 'the path is not valid percent-encoded UTF-8' : 'the request path is not valid',
    errors: [{ field: 'path', message: badUrl ? 'is not valid percent-encoded UTF-8' : error.message }],
  });
}

/**
 * Requests Node's HTTP parser refuses before Fastify sees them (malformed framing, headers
 * over the size limit, a body on a connection that timed out) answered as problem+json,
 * then the connection is closed, as Node does. Pass as the `clientErrorHandler` option.
 */
export function handleClientError(error: NodeJS.ErrnoException, socket: import('node:net').Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, title, detail] =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'Request Timeout', 'the request took too long to arrive']
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? [
            431,
            'Request Header Fields Too Large',
            'the request line and headers are larger than this server accepts (16 KiB); shorten the URL',
          ]
        : [400, 'Bad Request', 'the request is not valid HTTP/1.1 (for instance a body whose framing does not parse)'];
  const body = JSON.stringify({ type: 'urn:drover:problem:malformed-http', title, status, detail });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${title}\r\nContent-Type: application/problem+json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}

/**
 * Registers the hardening on the root instance. Call it before any route is registered
 * (the rate limit attaches to routes as they are added).
 */
export async function registerHardening(app: FastifyInstance, limits: ApiLimits): Promise<void> {
  await app.register(helmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      // The built UI is one module script and one stylesheet from /assets; the gateway's
      // colours are set through CSSOM (style.setProperty, which style-src does not block),
      // the favicon is a data: URL. Nothing inline is needed, so nothing inline runs.
      directives: {
        defaultSrc: ["'self'"],
        baseUri: ["'self'"],
        connectSrc: ["'self'"],
        fontSrc: ["'self'", 'data:'],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        // blob: the previews of image outputs, read with the user's token into object URLs.
        imgSrc: ["'self'", 'data:', 'blob:'],
        objectSrc: ["'none'"],
        scriptSrc: ["'self'"],
        scriptSrcAttr: ["'none'"],
        styleSrc: ["'self'"],
      },
    },
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    // Drover is often served over plain http on loopback: HSTS there would pin a browser to
    // https for an address that has none. TLS-terminating proxies set their own.
    strictTransportSecurity: false,
  });

  // The JSON parser reads bytes, so a body that is not UTF-8 is refused instead of being
  // decoded with U+FFFD in place of what the client sent.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const bytes = body as Buffer;
    if (!isUtf8(bytes)) return done(invalidText({ field: 'body', message: 'is not valid UTF-8' }), undefined);
    parseJson(request, bytes.toString('utf8'), done);
  });

  // Every integer the API takes fits the store's integer columns (int4) unless its schema
  // says otherwise: `?after=99999999999` is a 400 naming the field, not the store's 500.
  app.addHook('onRoute', (route) => {
    const schema = route.schema as Record<string, unknown> | undefined;
    for (const part of ['querystring', 'params', 'body', 'headers']) boundIntegers(schema?.[part]);
  });

  app.addHook('onRequest', async (request) => {
    checkQueryEncoding(request.url);
    const found =
      findInvalidText(documentedParams(request.params), 'params') ?? findInvalidText(request.query, 'querystring');
    if (found) throw invalidText(found);
    const query = request.query as Record<string, unknown> | undefined;
    // A token in a URL ends up in proxies' logs and browser history: only the streams,
    // which EventSource opens without headers, take one.
    if (query && Object.hasOwn(query, 'access_token') && !opensEventStream(request)) {
      throw new ValidationError(
        'access_token is accepted only when opening an event stream; send "Authorization: Bearer <token>"',
        [
          {
            field: 'querystring.access_token',
            message:
              'only GET /experiments/changes and GET /experiments/{id}/events with Accept: text/event-stream take it',
          },
        ],
      );
    }
  });
  app.addHook('preValidation', async (request) => {
    const found = findInvalidText(request.body, 'body');
    if (found) throw invalidText(found);
  });

  await app.register(rateLimit, {
    global: true,
    hook: 'preHandler', // after authentication, so the key is the user
    max: limits.writesPerWindow,
    timeWindow: limits.writeWindowMs,
    keyGenerator: (request) => request.principal?.userId ?? request.ip,
    allowList: (request) => !request.principal || ['GET', 'HEAD', 'OPTIONS'].includes(request.method),
    addHeadersOnExceeding: { 'x-ratelimit-limit': false, 'x-ratelimit-remaining': false, 'x-ratelimit-reset': false },
    // Retry-After is set by the plugin; the thrown LimitReachedError becomes the problem+json.
    errorResponseBuilder: (_request, context) =>
      new LimitReachedError(
        `too many writes: at most ${context.max} every ${limits.writeWindowMs / 1000} s per user; retry in ${context.after}`,
      ),
  });

  const openStreams = new Map<string, number>();
  app.addHook('preHandler', async (request, reply) => {
    if (!request.principal || !opensEventStream(request)) return;
    const user = request.principal.userId;
    const open = openStreams.get(user) ?? 0;
    if (open >= limits.eventStreamsPerUser) {
      return sendProblem(reply.header('retry-after', '5'), {
        type: 'urn:drover:problem:too-many-streams',
        title: 'Too Many Requests',
        status: 429,
        detail: `you already have ${open} event streams open (at most ${limits.eventStreamsPerUser}); close one (another tab or client) and retry`,
      });
    }
    // A client that left while it was being authenticated will send no close: not counted.
    if (reply.raw.destroyed || request.raw.socket?.destroyed) return;
    openStreams.set(user, open + 1);
    // The response's close: the client went away or the stream ended (the request's own
    // close fires as soon as its body is read).
    reply.raw.once('close', () => {
      const left = (openStreams.get(user) ?? 1) - 1;
      if (left > 0) openStreams.set(user, left);
      else openStreams.delete(user);
    });
  });
}

/**
 * The Content-Security-Policy of the API reference pages (/api/v1/docs): the API's, with
 * inline styles allowed, because Swagger UI styles some of its elements inline. Scripts,
 * connections and every other source stay this server's only.
 */
export function apiReferencePolicy(policy: string): string {
  return policy.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'");
}

/** `access_token=<anything>` in a URL, for `redactUrl`. */
const accessTokenInUrl = /([?&]access_token=)[^&#]*/gi;

/** `url` with the value of every `access_token` query field replaced by `[redacted]`. */
export function redactUrl(url: string): string {
  return url.replace(accessTokenInUrl, '$1[redacted]');
}

/**
 * Log serializers for the API's logger: Fastify's request fields, with the URL's
 * `access_token` redacted, so a token never reaches a log line.
 */
export const requestLogSerializers = {
  req(request: FastifyRequest) {
    return {
      method: request.method,
      url: redactUrl(request.url),
      host: request.host,
      remoteAddress: request.ip,
      remotePort: request.socket?.remotePort,
    };
  },
};
