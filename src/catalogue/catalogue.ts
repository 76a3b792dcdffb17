/**
 * The catalogue: gateways, users and their tokens, applications and resources. Read by
 * users, written by admins or loaded from a YAML file at start.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { ResourceSpec } from '../domain/resource.ts';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../domain/errors.ts';
import { inputTypes, loneSurrogatePattern, type ApplicationSpec } from '../domain/application.ts';
import { validateInputs } from '../domain/validate-inputs.ts';
import { environmentSetupLineProblem, schedulerNamePattern, workdirPattern } from '../batch/job-values.ts';
import type { Queryable } from '../store/port.ts';

/** A signed-in user. */
export interface Principal {
  userId: string;
  name: string;
  gatewayId: string;
  role: 'user' | 'admin';
  /**
   * The platform operator (the bootstrap token): an admin of the bootstrap gateway who also
   * creates and disables gateways and alone owns the Drover host (`local` resources, host paths).
   */
  operator: boolean;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** A new random bearer token (`drv_` + 32 random bytes, base64url). */
export function newToken(): string {
  return `drv_${randomBytes(32).toString('base64url')}`;
}

/**
 * The user a bearer token belongs to, or null. Tokens are only ever compared by hash.
 * @throws {ForbiddenError} `gateway-disabled` when the user's gateway is disabled.
 */
export async function authenticate(db: Queryable, token: string): Promise<Principal | null> {
  const rows = await db.query<any>(
    `select users.id, users.name, users.gateway_id, users.role, users.operator, gateways.disabled_at
     from users join gateways on gateways.id = users.gateway_id where users.token_hash = $1`,
    [hashToken(token)],
  );
  if (rows.length === 0) return null;
  const row = rows[0];
  if (row.disabled_at) {
    throw new ForbiddenError(`gateway ${row.gateway_id} is disabled: its tokens are refused until the platform operator enables it again`, [], 'gateway-disabled');
  }
  return { userId: row.id, name: row.name, gatewayId: row.gateway_id, role: row.role, operator: row.operator };
}

/** Creates the gateway if missing (theme and name are updated). */
export async function ensureGateway(db: Queryable, gateway: { id: string; name: string; theme?: Record<string, string> }): Promise<void> {
  await db.query(
    `insert into gateways (id, name, theme) values ($1, $2, $3::jsonb)
     on conflict (id) do update set name = excluded.name, theme = excluded.theme`,
    [gateway.id, gateway.name, JSON.stringify(gateway.theme ?? {})],
  );
}

const userNamePattern = /^[A-Za-z0-9._@-]{1,64}$/;

/**
 * Creates a user with a new token. Returns the token (shown once; only its hash is kept).
 * @throws {ConflictError} when the gateway already has a user of that name (rotating a
 *   token is its own call: rotateUserToken).
 */
export async function createUser(
  db: Queryable,
  user: { gatewayId: string; name: string; role: 'user' | 'admin' },
): Promise<{ id: string; token: string }> {
  const token = newToken();
  const rows = await db.query<{ id: string }>(
    `insert into users (gateway_id, name, role, token_hash) values ($1, $2, $3, $4)
     on conflict (gateway_id, name) do nothing returning id`,
    [user.gatewayId, user.name, user.role, hashToken(token)],
  );
  if (rows.length === 0) {
    throw new ConflictError(`user ${JSON.stringify(user.name)} exists`, [
      { field: 'name', message: 'already used in this gateway; to issue a new token use POST /api/v1/users/{name}/token' },
    ]);
  }
  return { id: rows[0].id, token };
}

/**
 * Gives a user a new token; the old one stops working at once. The platform operator's
 * token is rotated only by the operator (`byOperator`), never by another admin.
 * @throws {NotFoundError} when the gateway has no user of that name.
 * @throws {ForbiddenError} when the user is the operator and `byOperator` is false.
 */
export async function rotateUserToken(
  db: Queryable,
  gatewayId: string,
  name: string,
  byOperator: boolean,
): Promise<{ id: string; name: string; role: 'user' | 'admin'; token: string }> {
  const token = newToken();
  const rows = await db.query<any>(
    'update users set token_hash = $3 where gateway_id = $1 and name = $2 and (not operator or $4) returning id, name, role',
    [gatewayId, name, hashToken(token), byOperator],
  );
  if (rows.length === 0) {
    const exists = await db.query('select 1 from users where gateway_id = $1 and name = $2', [gatewayId, name]);
    if (exists.length > 0) throw new ForbiddenError("only the platform operator may rotate the platform operator's token", [{ field: 'name', message: 'is the platform operator' }]);
    throw new NotFoundError(`user ${JSON.stringify(name)}`);
  }
  return { id: rows[0].id, name: rows[0].name, role: rows[0].role, token };
}

/** Makes (or updates) the platform operator: user `admin` of the bootstrap gateway with `token`. */
export async function ensureOperator(db: Queryable, gatewayId: string, token: string): Promise<void> {
  await db.query(
    `insert into users (gateway_id, name, role, token_hash, operator) values ($1, 'admin', 'admin', $2, true)
     on conflict (gateway_id, name) do update set role = 'admin', token_hash = excluded.token_hash, operator = true`,
    [gatewayId, hashToken(token)],
  );
}

/** A gateway as the API shows it. */
export interface GatewayInfo {
  id: string;
  name: string;
  theme: Record<string, string>;
}

/** Name and colours of an enabled gateway. @throws {NotFoundError} when there is none (or it is disabled). */
export async function getGateway(db: Queryable, gatewayId: string): Promise<GatewayInfo> {
  const rows = await db.query<any>('select id, name, theme from gateways where id = $1 and disabled_at is null', [gatewayId]);
  if (rows.length === 0) throw new NotFoundError(`gateway ${JSON.stringify(gatewayId)}`);
  return rows[0];
}

const colour = z.string().regex(/^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/, 'a colour as #rgb or #rrggbb');

/** What the platform operator gives to create a gateway. */
export const gatewaySchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and dashes, up to 63'),
    name: z.string().trim().min(1).max(100),
    theme: z.object({ primary: colour, accent: colour, background: colour, text: colour }).partial().strict().default({}),
    /** Name of the gateway's first admin (default `admin`). */
    admin: z.string().regex(userNamePattern, 'letters, digits, dot, dash, underscore or @, up to 64').default('admin'),
  })
  .strict();

/**
 * Creates a gateway and its first admin, in one transaction. Returns the admin's token (shown once).
 * @throws {ValidationError} naming bad fields.
 * @throws {ConflictError} when the id is taken.
 */
export async function createGateway(
  db: Queryable,
  raw: unknown,
): Promise<{ gateway: GatewayInfo & { disabled: boolean; createdAt: string }; admin: { id: string; name: string; role: 'admin'; token: string } }> {
  const request = parseOrThrow(gatewaySchema, raw, 'gateway');
  const rows = await db.query<any>(
    `insert into gateways (id, name, theme) values ($1, $2, $3::jsonb) on conflict (id) do nothing returning id, name, theme, created_at`,
    [request.id, request.name, JSON.stringify(request.theme)],
  );
  if (rows.length === 0) throw new ConflictError(`gateway ${JSON.stringify(request.id)} exists`, [{ field: 'id', message: 'already used' }]);
  const admin = await createUser(db, { gatewayId: request.id, name: request.admin, role: 'admin' });
  return {
    gateway: { ...toGatewayListing({ ...rows[0], disabled_at: null }) },
    admin: { id: admin.id, name: request.admin, role: 'admin', token: admin.token },
  };
}

function toGatewayListing(row: any): GatewayInfo & { disabled: boolean; createdAt: string } {
  return { id: row.id, name: row.name, theme: row.theme, disabled: row.disabled_at !== null, createdAt: new Date(row.created_at).toISOString() };
}

/** Every gateway, enabled or not (for the platform operator). */
export async function listGateways(db: Queryable): Promise<Array<GatewayInfo & { disabled: boolean; createdAt: string }>> {
  return (await db.query<any>('select id, name, theme, disabled_at, created_at from gateways order by created_at, id')).map(toGatewayListing);
}

/**
 * Disables (or enables again) a gateway: while disabled, its users' tokens are refused.
 * @throws {NotFoundError} when there is no such gateway.
 */
export async function setGatewayDisabled(db: Queryable, gatewayId: string, disabled: boolean): Promise<GatewayInfo & { disabled: boolean; createdAt: string }> {
  const rows = await db.query<any>(
    `update gateways set disabled_at = case when $2 then coalesce(disabled_at, now()) else null end where id = $1
     returning id, name, theme, disabled_at, created_at`,
    [gatewayId, disabled],
  );
  if (rows.length === 0) throw new NotFoundError(`gateway ${JSON.stringify(gatewayId)}`);
  return toGatewayListing(rows[0]);
}

// ---- applications and resources -------------------------------------------------

const nameSchema = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'use lower-case letters, digits, dot, dash or underscore');

const inputSchema = z.object({
  name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/, 'input names are identifiers'),
  type: z.enum(inputTypes),
  title: z.string().optional(),
  description: z.string().optional(),
  required: z.boolean().optional(),
  default: z.union([z.string(), z.number(), z.boolean()]).optional(),
  minimum: z.number().optional(),
  maximum: z.number().optional(),
  values: z.array(z.string()).optional(),
  maxLength: z.number().int().positive().optional(),
});

/*
 * Everything below that a job script carries is checked here, when an admin registers it,
 * with the renderers' own rules (batch/job-values.ts): a bad value is a 400 naming its
 * field now, not a failed job later.
 */

/** A partition, queue or account name: one plain word, as directives carry it unquoted. */
const schedulerNameSchema = z.string().regex(schedulerNamePattern, `use letters, digits, dot, dash or underscore (${schedulerNamePattern})`);
const positiveIntegerSchema = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
/** An argv element: quoted whole by the renderers, so any text but NUL (which argv cannot carry). */
const commandPartSchema = z
  .string()
  .refine((part) => !part.includes('\0'), 'must not contain NUL')
  .refine((part) => !loneSurrogatePattern.test(part), 'must be valid Unicode text');
const environmentSetupLineSchema = z.string().superRefine((line, context) => {
  const problem = environmentSetupLineProblem(line);
  if (problem) context.addIssue({ code: 'custom', message: problem });
});

const deploymentSchema = z.object({
  environmentSetup: z.array(environmentSetupLineSchema).optional(),
  command: z.array(commandPartSchema).min(1),
  queue: schedulerNameSchema.optional(),
  nodes: positiveIntegerSchema.optional(),
  coresPerNode: positiveIntegerSchema.optional(),
  memoryMb: positiveIntegerSchema.optional(),
  walltimeMinutes: z.number().positive().finite().optional(),
  account: schedulerNameSchema.optional(),
});

/** The schema an application must match (catalogue file and admin API). */
export const applicationSchema = z
  .object({
    name: nameSchema,
    version: z.string().min(1).default('1'),
    title: z.string().min(1),
    description: z.string().optional(),
    inputs: z.array(inputSchema).default([]),
    outputs: z.array(z.string()).default([]),
    deployments: z.record(z.string(), deploymentSchema),
  })
  .superRefine((app, context) => {
    const names = new Set(app.inputs.map((input) => input.name));
    for (const input of app.inputs) {
      if (input.type === 'enum' && !input.values?.length) {
        context.addIssue({ code: 'custom', path: ['inputs', input.name, 'values'], message: 'an enum input needs values' });
      }
      // A default is checked as a user's value would be (a `string` default is one line, say).
      if (input.default !== undefined) {
        const { problems } = validateInputs({ name: app.name, inputs: [input] } as ApplicationSpec, {});
        for (const problem of problems) context.addIssue({ code: 'custom', path: ['inputs', input.name, 'default'], message: problem.message });
      }
    }
    for (const [resource, deployment] of Object.entries(app.deployments)) {
      for (const part of deployment.command) {
        for (const [, placeholder] of part.matchAll(/\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g)) {
          if (placeholder !== 'apps' && !names.has(placeholder)) {
            context.addIssue({ code: 'custom', path: ['deployments', resource, 'command'], message: `unknown placeholder {{${placeholder}}}` });
          }
        }
      }
    }
  });

const queueSchema = z.object({
  name: schedulerNameSchema,
  maxWalltimeMinutes: z.number().positive(),
  maxCores: z.number().int().positive(),
  maxNodes: z.number().int().positive().optional(),
  maxJobsPerUser: z.number().int().positive().optional(),
});

const sshSchema = z
  .object({
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).optional(),
    user: z.string().regex(/^[a-z_][a-z0-9_.-]{0,31}$/i, 'a login name'),
    /** A credential stored in Drover (POST /api/v1/credentials): how gateway admins give the login key. */
    credential: z.string().min(1).optional(),
    /** A key file on the Drover host: the platform operator's alone. */
    privateKeyPath: z.string().min(1).optional(),
    /** A known_hosts file on the Drover host: the platform operator's alone (admins pin hostKey). */
    knownHostsPath: z.string().min(1).optional(),
    hostKey: z.string().regex(/^[a-z0-9@.-]+ [A-Za-z0-9+/=]+$/, 'an OpenSSH public key: "<type> <base64>"').optional(),
    maxSessions: z.number().int().min(1).max(64).optional(),
  })
  .refine((ssh) => ssh.knownHostsPath || ssh.hostKey, { message: 'give knownHostsPath or hostKey: the login node\'s host key is always checked' })
  .refine((ssh) => (ssh.credential === undefined) !== (ssh.privateKeyPath === undefined), {
    message: 'give credential (a stored SSH key, see POST /api/v1/credentials) or privateKeyPath, not both',
    path: ['credential'],
  });

/** The schema a resource must match. */
export const resourceSchema = z
  .object({
    name: nameSchema,
    kind: z.enum(['local', 'slurm', 'pbs']),
    config: z
      .object({
        scratchDir: z.string().regex(/^\/[^\0]*$/, 'an absolute path'),
        queues: z.array(queueSchema).min(1),
        ssh: sshSchema.optional(),
        pollIntervalSeconds: z.number().min(0.1).max(3600).optional(),
      })
      .passthrough(),
  })
  .superRefine((resource, context) => {
    if (resource.kind !== 'local' && !resource.config.ssh) {
      context.addIssue({ code: 'custom', path: ['config', 'ssh'], message: `a ${resource.kind} resource needs ssh: host, user, credential (or privateKeyPath) and knownHostsPath or hostKey` });
    }
    // Batch scripts carry the workdir (scratchDir/<experiment id>) unquoted in directives.
    const { scratchDir } = resource.config;
    if (resource.kind !== 'local' && (!workdirPattern.test(scratchDir) || scratchDir.split('/').includes('..'))) {
      context.addIssue({
        code: 'custom',
        path: ['config', 'scratchDir'],
        message: `a ${resource.kind} scratchDir must be an absolute path of plain characters (${workdirPattern}), without ".."`,
      });
    }
  });

/** Parses `value` with `schema`, or throws a ValidationError naming each bad field. */
export function parseOrThrow<T>(schema: z.ZodType<T, any, any>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new ValidationError(
    `invalid ${what}`,
    result.error.issues.map((issue) => ({ field: issue.path.join('.') || what, message: issue.message })),
  );
}

/** Who registers catalogue entries: the platform operator (and catalogue files loaded at start) may use the host. */
export interface CatalogueActor {
  operator: boolean;
}

/** A ForbiddenError naming the field that only the platform operator may set. */
function operatorOnly(field: string, message: string): ForbiddenError {
  return new ForbiddenError(`only the platform operator may do this: ${message}`, [{ field, message }]);
}

/**
 * Creates or replaces an application. A gateway admin's deployments may not name `local`
 * resources, and their applications never run on one: only the platform operator runs
 * anything on the Drover host.
 * @throws {ValidationError} naming bad fields.
 * @throws {ForbiddenError} naming the deployment that needs the operator.
 */
export async function upsertApplication(db: Queryable, gatewayId: string, raw: unknown, actor: CatalogueActor): Promise<ApplicationSpec> {
  const app = parseOrThrow(applicationSchema, raw, 'application') as ApplicationSpec;
  if (!actor.operator) {
    // A wildcard deployment (`*`) or one for a resource made later is stopped when an
    // experiment asks for a local resource (see registeredByOperator); this gives the early answer.
    const names = Object.keys(app.deployments);
    const local = await db.query<{ name: string }>(`select name from resources where gateway_id = $1 and name = any($2::text[]) and kind = 'local' order by name`, [gatewayId, names]);
    if (local.length > 0) throw operatorOnly(`deployments.${local[0].name}`, `${local[0].name} is a local resource: programs on it run on the Drover host`);
  }
  await db.query(
    `insert into applications (gateway_id, name, version, spec, registered_by_operator) values ($1, $2, $3, $4::jsonb, $5)
     on conflict (gateway_id, name) do update set version = excluded.version, spec = excluded.spec,
       registered_by_operator = excluded.registered_by_operator, updated_at = now()`,
    [gatewayId, app.name, app.version, JSON.stringify(app), actor.operator],
  );
  return app;
}

/**
 * Creates or replaces a resource. `local` resources, host file paths (privateKeyPath,
 * knownHostsPath) and replacing a local resource are the platform operator's alone; a
 * named credential must exist in the gateway.
 * @throws {ValidationError} naming bad fields.
 * @throws {ForbiddenError} naming the field that needs the operator.
 */
export async function upsertResource(db: Queryable, gatewayId: string, raw: unknown, actor: CatalogueActor): Promise<ResourceSpec> {
  const resource = parseOrThrow(resourceSchema, raw, 'resource') as ResourceSpec;
  const ssh = resource.config.ssh;
  if (!actor.operator) {
    if (resource.kind === 'local') throw operatorOnly('kind', 'a local resource runs programs on the Drover host');
    if (ssh?.privateKeyPath !== undefined) throw operatorOnly('config.ssh.privateKeyPath', 'a file on the Drover host; store the key as a credential and give config.ssh.credential');
    if (ssh?.knownHostsPath !== undefined) throw operatorOnly('config.ssh.knownHostsPath', 'a file on the Drover host; pin the login node\'s key with config.ssh.hostKey');
    const existing = await db.query<{ kind: string }>('select kind from resources where gateway_id = $1 and name = $2', [gatewayId, resource.name]);
    if (existing[0]?.kind === 'local') throw operatorOnly('name', `${resource.name} is a local resource of the platform operator`);
  }
  if (ssh?.credential !== undefined) {
    const found = await db.query('select 1 from credentials where gateway_id = $1 and name = $2', [gatewayId, ssh.credential]);
    if (found.length === 0) {
      throw new ValidationError('invalid resource', [{ field: 'config.ssh.credential', message: `no credential ${JSON.stringify(ssh.credential)} in this gateway (GET /api/v1/credentials lists them)` }]);
    }
  }
  await db.query(
    `insert into resources (gateway_id, name, kind, config) values ($1, $2, $3, $4::jsonb)
     on conflict (gateway_id, name) do update set kind = excluded.kind, config = excluded.config, updated_at = now()`,
    [gatewayId, resource.name, resource.kind, JSON.stringify(resource.config)],
  );
  return resource;
}

export async function listApplications(db: Queryable, gatewayId: string): Promise<ApplicationSpec[]> {
  const rows = await db.query<{ spec: ApplicationSpec }>('select spec from applications where gateway_id = $1 order by name', [gatewayId]);
  return rows.map((row) => row.spec);
}

export async function getApplication(db: Queryable, gatewayId: string, name: string): Promise<ApplicationSpec> {
  const rows = await db.query<{ spec: ApplicationSpec }>('select spec from applications where gateway_id = $1 and name = $2', [gatewayId, name]);
  if (rows.length === 0) throw new NotFoundError(`application ${JSON.stringify(name)}`);
  return rows[0].spec;
}

/** Whether the platform operator registered an application: only then may it run on a `local` resource. */
export async function registeredByOperator(db: Queryable, gatewayId: string, name: string): Promise<boolean> {
  const rows = await db.query<{ registered_by_operator: boolean }>('select registered_by_operator from applications where gateway_id = $1 and name = $2', [gatewayId, name]);
  return rows[0]?.registered_by_operator === true;
}

export async function listResources(db: Queryable, gatewayId: string): Promise<ResourceSpec[]> {
  const rows = await db.query<any>('select gateway_id as "gatewayId", name, kind, config from resources where gateway_id = $1 order by name', [gatewayId]);
  return rows;
}

export async function getResource(db: Queryable, gatewayId: string, name: string): Promise<ResourceSpec> {
  const rows = await db.query<any>('select gateway_id as "gatewayId", name, kind, config from resources where gateway_id = $1 and name = $2', [gatewayId, name]);
  if (rows.length === 0) throw new NotFoundError(`resource ${JSON.stringify(name)}`);
  return rows[0];
}

/** A catalogue file: applications and resources for one gateway. */
export interface CatalogueFile {
  gateway?: { id?: string; name?: string; theme?: Record<string, string> };
  resources?: unknown[];
  applications?: unknown[];
}

/**
 * Loads a YAML catalogue into a gateway, as the platform operator (the files are the operator's). `${scratch}` in a resource's scratchDir is
 * replaced by `scratchRoot`, so the demo catalogue works in any data folder.
 */
export async function loadCatalogueFile(db: Queryable, gatewayId: string, path: string, scratchRoot: string): Promise<{ applications: number; resources: number }> {
  let file: CatalogueFile;
  try {
    file = (parseYaml(readFileSync(path, 'utf8')) ?? {}) as CatalogueFile;
  } catch (error) {
    throw new ValidationError(`cannot read catalogue ${path}: ${(error as Error).message}`);
  }
  for (const resource of file.resources ?? []) {
    const withScratch = JSON.parse(JSON.stringify(resource).replaceAll('${scratch}', scratchRoot.replaceAll('\\', '\\\\')));
    await upsertResource(db, gatewayId, withScratch, { operator: true });
  }
  for (const application of file.applications ?? []) await upsertApplication(db, gatewayId, application, { operator: true });
  return { applications: file.applications?.length ?? 0, resources: file.resources?.length ?? 0 };
}
