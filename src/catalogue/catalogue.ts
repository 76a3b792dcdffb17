/**
 * The catalogue: gateways, users and their tokens, applications and resources. Read by
 * users, written by admins or loaded from a YAML file at start.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { ResourceSpec } from '../domain/resource.ts';
import { InputError, NotFoundError } from '../domain/errors.ts';
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
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** A new random bearer token (`drv_` + 32 random bytes, base64url). */
export function newToken(): string {
  return `drv_${randomBytes(32).toString('base64url')}`;
}

/** The user a bearer token belongs to, or null. Tokens are only ever compared by hash. */
export async function authenticate(db: Queryable, token: string): Promise<Principal | null> {
  const rows = await db.query<any>('select id, name, gateway_id, role from users where token_hash = $1', [hashToken(token)]);
  if (rows.length === 0) return null;
  return { userId: rows[0].id, name: rows[0].name, gatewayId: rows[0].gateway_id, role: rows[0].role };
}

/** Creates the gateway if missing (theme and name are updated). */
export async function ensureGateway(db: Queryable, gateway: { id: string; name: string; theme?: Record<string, string> }): Promise<void> {
  await db.query(
    `insert into gateways (id, name, theme) values ($1, $2, $3::jsonb)
     on conflict (id) do update set name = excluded.name, theme = excluded.theme`,
    [gateway.id, gateway.name, JSON.stringify(gateway.theme ?? {})],
  );
}

/** Creates a user with a new token, or replaces the token of an existing one. Returns the token. */
export async function createUser(
  db: Queryable,
  user: { gatewayId: string; name: string; role: 'user' | 'admin'; token?: string },
): Promise<{ id: string; token: string }> {
  const token = user.token ?? newToken();
  const rows = await db.query<{ id: string }>(
    `insert into users (gateway_id, name, role, token_hash) values ($1, $2, $3, $4)
     on conflict (gateway_id, name) do update set role = excluded.role, token_hash = excluded.token_hash
     returning id`,
    [user.gatewayId, user.name, user.role, hashToken(token)],
  );
  return { id: rows[0].id, token };
}

export async function getGateway(db: Queryable, gatewayId: string): Promise<{ id: string; name: string; theme: Record<string, string> }> {
  const rows = await db.query<any>('select id, name, theme from gateways where id = $1', [gatewayId]);
  if (rows.length === 0) throw new NotFoundError(`gateway ${gatewayId}`);
  return rows[0];
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
    privateKeyPath: z.string().min(1),
    knownHostsPath: z.string().min(1).optional(),
    hostKey: z.string().regex(/^[a-z0-9@.-]+ [A-Za-z0-9+/=]+$/, 'an OpenSSH public key: "<type> <base64>"').optional(),
    maxSessions: z.number().int().min(1).max(64).optional(),
  })
  .refine((ssh) => ssh.knownHostsPath || ssh.hostKey, { message: 'give knownHostsPath or hostKey: the login node\'s host key is always checked' });

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
      context.addIssue({ code: 'custom', path: ['config', 'ssh'], message: `a ${resource.kind} resource needs ssh: host, user, privateKeyPath and knownHostsPath or hostKey` });
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

/** Parses `value` with `schema`, or throws an InputError naming each bad field. */
export function parseOrThrow<T>(schema: z.ZodType<T, any, any>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new InputError(
    `invalid ${what}`,
    400,
    result.error.issues.map((issue) => ({ field: issue.path.join('.') || what, message: issue.message })),
  );
}

export async function upsertApplication(db: Queryable, gatewayId: string, raw: unknown): Promise<ApplicationSpec> {
  const app = parseOrThrow(applicationSchema, raw, 'application') as ApplicationSpec;
  await db.query(
    `insert into applications (gateway_id, name, version, spec) values ($1, $2, $3, $4::jsonb)
     on conflict (gateway_id, name) do update set version = excluded.version, spec = excluded.spec, updated_at = now()`,
    [gatewayId, app.name, app.version, JSON.stringify(app)],
  );
  return app;
}

export async function upsertResource(db: Queryable, gatewayId: string, raw: unknown): Promise<ResourceSpec> {
  const resource = parseOrThrow(resourceSchema, raw, 'resource') as ResourceSpec;
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

export async function listResources(db: Queryable, gatewayId: string): Promise<ResourceSpec[]> {
  const rows = await db.query<any>('select name, kind, config from resources where gateway_id = $1 order by name', [gatewayId]);
  return rows;
}

export async function getResource(db: Queryable, gatewayId: string, name: string): Promise<ResourceSpec> {
  const rows = await db.query<any>('select name, kind, config from resources where gateway_id = $1 and name = $2', [gatewayId, name]);
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
 * Loads a YAML catalogue into a gateway. `${scratch}` in a resource's scratchDir is
 * replaced by `scratchRoot`, so the demo catalogue works in any data folder.
 */
export async function loadCatalogueFile(db: Queryable, gatewayId: string, path: string, scratchRoot: string): Promise<{ applications: number; resources: number }> {
  let file: CatalogueFile;
  try {
    file = (parseYaml(readFileSync(path, 'utf8')) ?? {}) as CatalogueFile;
  } catch (error) {
    throw new InputError(`cannot read catalogue ${path}: ${(error as Error).message}`);
  }
  for (const resource of file.resources ?? []) {
    const withScratch = JSON.parse(JSON.stringify(resource).replaceAll('${scratch}', scratchRoot.replaceAll('\\', '\\\\')));
    await upsertResource(db, gatewayId, withScratch);
  }
  for (const application of file.applications ?? []) await upsertApplication(db, gatewayId, application);
  return { applications: file.applications?.length ?? 0, resources: file.resources?.length ?? 0 };
}
