/**
 * Fuzz tier: requests generated from the OpenAPI document a running Drover serves, valid
 * and malformed, sent over a real socket. Whatever arrives, Drover answers: no 5xx, no
 * crash, and every error is application/problem+json.
 *
 * DROVER_FUZZ_REQUESTS sets how many requests to send (default 2000), DROVER_FUZZ_SEED
 * the seed (default: random, printed, so a failure can be replayed).
 *
 * Safety: the fuzzer is an admin and may register applications and resources. What it
 * registers is made harmless before it is sent (commands run `true`, no environment
 * setup, scratch folders inside the test's data folder, SSH only to a closed loopback
 * port), so no generated text runs on this machine or reaches another.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import fc from 'fast-check';
import { adminToken, startTestDrover, waitForState, type TestDrover } from './harness.ts';

const requestCount = Number(process.env.DROVER_FUZZ_REQUESTS ?? 2000);
const seed = Number(process.env.DROVER_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const parallel = 4;

type Schema = Record<string, any>;
interface Operation {
  method: string;
  path: string;
  parameters: Array<{ in: 'path' | 'query'; name: string; schema: Schema }>;
  body: Schema | null;
}
interface FuzzRequest {
  method: string;
  path: string;
  query: string;
  body: string | null;
  token: string | null;
  accept: string;
  lastEventId?: string;
}

let drover: TestDrover;
let operations: Operation[];
let schemas: Record<string, Schema>;
const known = {
  ids: [] as string[],
  names: ['pi-monte-carlo', 'word-count', 'heat-simulation', 'local'],
  uploads: [] as string[],
  tokens: [adminToken],
};

before(async () => {
  drover = await startTestDrover({ limits: { writesPerWindow: 1_000_000 }, worker: { concurrency: 2 } });
  const document = (await drover.call('GET', '/api/v1/openapi.json')).body;
  schemas = document.components.schemas;
  operations = [];
  for (const [path, methods] of Object.entries<any>(document.paths)) {
    for (const [method, operation] of Object.entries<any>(methods)) {
      let body: Schema | null = operation.requestBody?.content?.['application/json']?.schema ?? null;
      // Catalogue writes take any object (the server validates it): generate what a GET returns.
      if (body && !body.properties) body = operation.responses?.['201']?.content?.['application/json']?.schema ?? body;
      operations.push({ method: method.toUpperCase(), path, parameters: operation.parameters ?? [], body });
    }
  }
  assert.ok(operations.length >= 20, `the document lists the API's operations (${operations.length})`);
  // Real ids and names, so that valid requests reach past the lookups.
  const user = await drover.call('POST', '/api/v1/users', { name: 'fuzz-user' });
  known.tokens.push(user.body.token);
  const upload = await drover.call('POST', '/api/v1/uploads?filename=story.txt', Buffer.from('a b c'));
  known.uploads.push(upload.body.id);
  const draft = await drover.call('POST', '/api/v1/experiments', {
    application: 'pi-monte-carlo',
    resource: 'local',
    launch: false,
  });
  const run = await drover.call('POST', '/api/v1/experiments', {
    application: 'pi-monte-carlo',
    resource: 'local',
    inputs: { samples: 1000 },
  });
  known.ids.push(draft.body.id, run.body.id);
  await waitForState(drover, run.body.id, ['completed']);
});
after(async () => {
  await drover?.stop();
});

/** Strings an attacker tries: control characters, lone surrogates, path tricks, huge and odd numbers as text. */
const hostileString = fc.oneof(
  fc.constantFrom(
    '\u0000',
    'a\u0000b',
    '\ud800',
    'x\udfffy',
    '\ud83d',
    '../../../../etc/passwd',
    '..',
    '.',
    '%00',
    '%ZZ',
    '%C0%80',
    '%ED%A0%80',
    '\n#SBATCH --partition=x',
    '$(id)',
    '`id`',
    "'; drop table experiments; --",
    '{{apps}}',
    '\u202e\u0301\ufeff',
    '😀'.repeat(50),
    '1e400',
    '-0',
    'NaN',
    '99999999999999999999999999',
    '0x10',
    'true',
    'null',
    '',
    ' ',
    '__proto__',
    'constructor',
    'x'.repeat(5000),
  ),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: fc.integer({ min: 0, max: 0x1f }).map((code) => String.fromCharCode(code)), maxLength: 8 }),
  fc.string({ unit: fc.integer({ min: 0xd800, max: 0xdfff }).map((code) => String.fromCharCode(code)), maxLength: 4 }),
);
const hostileNumber = fc.oneof(
  fc.constantFrom(2 ** 53 + 2, -(2 ** 63), 1e308, -1e308, Number.MIN_VALUE, -0, 0.5, 1e21, 2 ** 31, -1),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer(),
);
/** Any JSON value, nested up to a few levels. */
const anyJson = fc.jsonValue({ maxDepth: 3 });
const wrongType = fc.oneof(
  anyJson,
  hostileNumber,
  hostileString,
  fc.constant(null),
  fc.array(hostileString, { maxLength: 3 }),
);

/** Real values for fields that name something, so that valid requests get past the lookups. */
const namedValues: Record<string, string[]> = {
  application: ['pi-monte-carlo', 'word-count', 'heat-simulation'],
  resource: ['local'],
  stream: ['stdout', 'stderr'],
  role: ['user', 'admin'],
  kind: ['local', 'slurm', 'pbs'],
  type: ['string', 'integer', 'number', 'boolean', 'enum', 'file'],
};

function resolve(schema: Schema): Schema {
  if (schema?.$ref)
    return (
      schemas[
        String(schema.$ref)
          .replace(/^#\/components\/schemas\//, '')
          .replace(/#$/, '')
      ] ?? {}
    );
  return schema ?? {};
}

/** A value that satisfies `schema` (mostly), from real names where a string names something. */
function valid(schemaOrRef: Schema, depth = 0, name = ''): fc.Arbitrary<unknown> {
  const schema = resolve(schemaOrRef);
  if (schema.enum) return fc.constantFrom(...schema.enum);
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case 'string':
      if (schema.format === 'date-time') return fc.date({ noInvalidDate: true }).map((date) => date.toISOString());
      if (name in namedValues)
        return fc.oneof(
          { weight: 4, arbitrary: fc.constantFrom(...namedValues[name]) },
          { weight: 1, arbitrary: hostileString },
        );
      return fc.oneof(
        {
          weight: 3,
          arbitrary: fc.constantFrom(
            ...known.names,
            ...known.ids,
            ...known.uploads,
            'plain.txt',
            'result.json',
            'user',
          ),
        },
        { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
        { weight: 1, arbitrary: hostileString },
      );
    case 'integer': {
      const min = schema.minimum ?? -1000;
      const max = schema.maximum ?? Math.max(min + 1000, 1000);
      return fc.integer({ min: Math.ceil(min), max: Math.floor(max) });
    }
    case 'number':
      return fc.double({
        min: schema.minimum ?? -1e6,
        max: schema.maximum ?? 1e6,
        noNaN: true,
        noDefaultInfinity: true,
      });
    case 'boolean':
      return fc.boolean();
    case 'array':
      return depth > 4 ? fc.constant([]) : fc.array(valid(schema.items ?? {}, depth + 1, name), { maxLength: 3 });
    case 'object': {
      if (depth > 4) return fc.constant({});
      const properties = Object.entries<Schema>(schema.properties ?? {});
      const required = new Set<string>(schema.required ?? []);
      const record: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [key, child] of properties) record[key] = valid(child, depth + 1, key);
      const shaped = fc.record(record, {
        requiredKeys: properties.map(([key]) => key).filter((key) => required.has(key)),
      });
      // Maps (deployments per resource, inputs per name): a few entries with real keys.
      if (schema.additionalProperties && typeof schema.additionalProperties === 'object') {
        return fc
          .tuple(
            shaped,
            fc.dictionary(
              fc.constantFrom('*', 'local', 'samples', 'seed', 'text'),
              valid(schema.additionalProperties, depth + 1),
              { maxKeys: 2 },
            ),
          )
          .map(([a, b]) => ({ ...b, ...a }));
      }
      if (name === 'inputs' || properties.length === 0)
        return fc.dictionary(
          fc.constantFrom('samples', 'seed', 'text', 'label', 'top'),
          fc.oneof(fc.integer({ min: 1, max: 5000 }), fc.string({ maxLength: 10 }), fc.constantFrom(...known.uploads)),
          { maxKeys: 3 },
        );
      return shaped;
    }
    default:
      return anyJson;
  }
}

/** A malformed value for `schema`: the wrong type, a hostile string or number, or deep nesting. */
function malformed(schema: Schema): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 3, arbitrary: valid(schema).chain((value) => mutate(value)) },
    { weight: 2, arbitrary: wrongType },
    { weight: 1, arbitrary: fc.integer({ min: 65, max: 1000 }).map((depth) => nest(depth)) },
  );
}

/** `value` with one of its leaves (or itself) replaced by something hostile. */
function mutate(value: unknown): fc.Arbitrary<unknown> {
  if (value && typeof value === 'object') {
    const keys = Object.keys(value);
    if (keys.length === 0) return fc.constant(value);
    return fc
      .tuple(fc.constantFrom(...keys), wrongType, fc.boolean(), hostileString)
      .map(([key, replacement, renameKey, newKey]) => {
        const copy: any = Array.isArray(value) ? [...value] : { ...value };
        if (renameKey && !Array.isArray(value)) {
          copy[newKey] = copy[key];
          delete copy[key];
        } else copy[key] = replacement;
        return copy;
      });
  }
  return wrongType;
}

function nest(depth: number): unknown {
  let value: unknown = 'deep';
  for (let level = 0; level < depth; level++) value = level % 2 ? [value] : { a: value };
  return value;
}

/** Makes catalogue writes harmless (see the file comment); the rest of the body stays as generated. */
function disarm(operation: Operation, body: unknown): unknown {
  if (!body || typeof body !== 'object' || Array.isArray(body) || operation.method !== 'POST') return body;
  const copy: any = { ...body };
  if (operation.path === '/api/v1/applications' && copy.deployments && typeof copy.deployments === 'object') {
    copy.deployments = { ...copy.deployments };
    for (const [resource, deployment] of Object.entries<any>(copy.deployments)) {
      if (!deployment || typeof deployment !== 'object') continue;
      const { environmentSetup: _setup, ...rest } = deployment;
      copy.deployments[resource] = {
        ...rest,
        command: ['true', ...(Array.isArray(deployment.command) ? deployment.command.slice(1) : [])],
      };
    }
  }
  if (operation.path === '/api/v1/resources') {
    copy.config =
      copy.config && typeof copy.config === 'object' && !Array.isArray(copy.config) ? { ...copy.config } : {};
    copy.config.scratchDir = join(drover.dataDir, 'fuzz-scratch');
    if (copy.config.ssh && typeof copy.config.ssh === 'object') {
      copy.config.ssh = { ...copy.config.ssh, host: '127.0.0.1', port: 9 };
      delete copy.config.ssh.privateKeyPath;
      delete copy.config.ssh.knownHostsPath;
    }
  }
  return copy;
}

function encodeSegment(value: unknown): fc.Arbitrary<string> {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? '');
  // Mostly as a client would encode it; sometimes raw, so that broken escapes (`%ZZ`)
  // arrive as written. A lone surrogate has no UTF-8: it goes as the bytes of one (%ED%A0%80).
  return fc.constantFrom(true, true, true, false).map((careful) =>
    Array.from(text, (character) => {
      if (/^[\ud800-\udfff]$/.test(character)) return '%ED%A0%80';
      if (!careful && /^[\x21-\x7e]$/.test(character) && !'?#/'.includes(character)) return character;
      return encodeURIComponent(character);
    }).join(''),
  );
}

function requestFor(operation: Operation): fc.Arbitrary<FuzzRequest> {
  const pathParameters = operation.parameters.filter((parameter) => parameter.in === 'path');
  const queryParameters = operation.parameters.filter((parameter) => parameter.in === 'query');
  const value = (schema: Schema, name: string) =>
    fc.oneof(
      {
        weight: 5,
        arbitrary: name === 'id' ? fc.oneof(fc.constantFrom(...known.ids), valid(schema)) : valid(schema, 0, name),
      },
      { weight: 2, arbitrary: malformed(schema) },
    );
  const path = fc
    .tuple(...pathParameters.map((parameter) => value(parameter.schema, parameter.name).chain(encodeSegment)))
    .map((segments) => {
      let built = operation.path;
      pathParameters.forEach(
        (parameter, index) => (built = built.replace(`{${parameter.name}}`, segments[index] || 'x')),
      );
      return built;
    });
  const query = fc
    .tuple(
      ...queryParameters.map((parameter) =>
        fc.option(value(parameter.schema, parameter.name).chain(encodeSegment), { nil: undefined }),
      ),
      fc.option(
        fc
          .tuple(hostileString, hostileString)
          .chain(([key, extra]) => fc.tuple(encodeSegment(key), encodeSegment(extra))),
        { nil: undefined },
      ),
    )
    .map((values) => {
      const parts: string[] = [];
      queryParameters.forEach((parameter, index) => {
        if (values[index] !== undefined && parameter.name !== 'access_token')
          parts.push(`${parameter.name}=${values[index]}`);
      });
      const extra = values.at(-1) as [string, string] | undefined;
      if (extra) parts.push(`${extra[0]}=${extra[1]}`);
      return parts.length ? `?${parts.join('&')}` : '';
    });
  const rawBodies = fc.constantFrom(
    '{',
    '[]',
    'null',
    '"text"',
    '{"a":1e400}',
    '{"__proto__":{"polluted":true}}',
    '{"constructor":{"prototype":{"polluted":true}}}',
    `{"name":"${'\\ud800'}"}`,
    '{"a":"\\u0000"}',
    '[1,2',
    '',
  );
  const body: fc.Arbitrary<string | null> = operation.body
    ? fc.oneof(
        {
          weight: 5,
          arbitrary: valid(operation.body).map((generated) => JSON.stringify(disarm(operation, generated))),
        },
        {
          weight: 3,
          arbitrary: malformed(operation.body).map(
            (generated) => JSON.stringify(disarm(operation, generated)) ?? 'null',
          ),
        },
        { weight: 1, arbitrary: rawBodies },
      )
    : fc.oneof({ weight: 9, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: rawBodies });
  const token = fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom(...known.tokens) },
    { weight: 1, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: hostileString.map((text) => text.replace(/[^\x21-\x7e]/g, '')) },
  );
  const accept = fc.constantFrom('application/json', 'application/json', '*/*', 'text/event-stream', 'text/html');
  const lastEventId = fc.option(
    fc.oneof(fc.integer().map(String), fc.constantFrom('99999999999', '1e308', '-1', '1.5', 'abc', '')),
    { nil: undefined, freq: 8 },
  );
  return fc.record({ method: fc.constant(operation.method), path, query, body, token, accept, lastEventId });
}

/** Sends one request as written (node:http, so the path is not normalized); an event stream is closed once its headers arrive. */
function send(request: FuzzRequest): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { accept: request.accept };
    if (request.token !== null) headers.authorization = `Bearer ${request.token}`;
    if (request.lastEventId !== undefined) headers['last-event-id'] = request.lastEventId;
    if (request.body !== null) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(request.body));
    }
    // A connection per request: one the server closes (431) is never reused by the next.
    const outgoing = httpRequest(
      drover.url + request.path + request.query,
      { method: request.method, headers, agent: false },
      (response) => {
        const type = String(response.headers['content-type'] ?? '');
        if (type.startsWith('text/event-stream')) {
          response.destroy();
          return resolve({ status: response.statusCode!, type, body: '' });
        }
        const chunks: Buffer[] = [];
        response.on('data', (chunk) => chunks.push(chunk));
        response.on('end', () =>
          resolve({ status: response.statusCode!, type, body: Buffer.concat(chunks).toString('utf8').slice(0, 500) }),
        );
        response.on('error', reject);
      },
    );
    outgoing.on('error', reject);
    outgoing.end(request.body ?? undefined);
  });
}

it(
  `answers ${requestCount} generated requests without a 5xx, and every error as problem+json (seed ${seed})`,
  { timeout: 600_000 },
  async () => {
    const all = fc.sample(fc.constantFrom(...operations).chain(requestFor), { numRuns: requestCount, seed });
    const failures: string[] = [];
    const statuses = new Map<number, number>();
    let sent = 0;
    let serverErrors = 0;
    for (let start = 0; start < all.length; start += parallel) {
      await Promise.all(
        all.slice(start, start + parallel).map(async (request) => {
          const response = await send(request).catch((error: Error) => ({
            status: 0,
            type: `no answer: ${error.message}`,
            body: '',
          }));
          sent++;
          statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
          const problem =
            response.status === 0 || (response.status >= 400 && !response.type.startsWith('application/problem+json'));
          if (response.status >= 500) serverErrors++;
          if (response.status >= 500 || problem) {
            failures.push(
              `${response.status} ${response.type} ${request.method} ${request.path}${request.query} accept=${request.accept} last-event-id=${request.lastEventId} body=${request.body?.slice(0, 200)} -> ${response.body}`,
            );
          }
        }),
      );
    }
    const health = await drover.call('GET', '/healthz');
    const me = await drover.call('GET', '/api/v1/me');
    console.log(
      `fuzz: ${sent} requests, ${serverErrors} 5xx, ${failures.length} failures, seed ${seed}; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`,
    );
    assert.equal(health.status, 200, 'Drover is still up');
    assert.equal(me.status, 200, 'and still answers the API');
    assert.deepEqual(
      failures.slice(0, 20),
      [],
      `${failures.length} of ${sent} requests failed (replay with DROVER_FUZZ_SEED=${seed})`,
    );
    assert.equal(sent, requestCount);
  },
);
