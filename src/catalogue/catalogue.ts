/**
 * The catalogue: a gateway's applications and resources, the schemas they must match, and
 * their upserts and reads. Read by users, written by admins or loaded from a catalogue
 * file at start (catalogue-file.ts).
 */
import picomatch from 'picomatch';
import { z } from 'zod';
import { autoResource } from '../domain/resource-choice.ts';
import type { ResourceSpec } from '../domain/resource.ts';
import { ForbiddenError, NotFoundError, ValidationError } from '../domain/errors.ts';
import {
  controlCharacterPattern,
  inputTypes,
  loneSurrogatePattern,
  type ApplicationSpec,
} from '../domain/application.ts';
import { compileProgressPattern } from '../domain/progress.ts';
import { validateInputs } from '../domain/validate-inputs.ts';
import { headlinePathPattern } from '../domain/headline-values.ts';
import { environmentSetupLineProblem, schedulerNamePattern, workdirPattern } from '../batch/job-script.ts';
import type { Queryable } from '../store/port.ts';

const nameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'use lower-case letters, digits, dot, dash or underscore');

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
 * with the renderers' own rules (batch/job-script.ts): a bad value is a 400 naming its
 * field now, not a failed job later.
 */

/** A partition, queue or account name: one plain word, as directives carry it unquoted. */
const schedulerNameSchema = z
  .string()
  .regex(schedulerNamePattern, `use letters, digits, dot, dash or underscore (${schedulerNamePattern})`);
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

const oneLine = (schema: z.ZodString) =>
  schema.refine((text) => !controlCharacterPattern.test(text), 'one line of text');

/** A headline value (domain/headline-values.ts): shown text is one line, the file stays in the workdir. */
const headlineValueSchema = z.object({
  name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/, 'headline value names are identifiers'),
  label: oneLine(z.string().min(1).max(100)),
  unit: oneLine(z.string().max(20)).optional(),
  file: z
    .string()
    .min(1)
    .refine(
      (file) => !file.startsWith('/') && !file.split('/').includes('..') && !file.includes('\0'),
      'a path relative to the job\'s working directory, without ".."',
    ),
  path: z.string().regex(headlinePathPattern, 'keys joined by dots, e.g. final.mean or series.0'),
});

/** The schema an application must match (catalogue file and admin API). */
export const applicationSchema = z
  .object({
    name: nameSchema,
    version: z.string().min(1).default('1'),
    title: z.string().min(1),
    description: z.string().optional(),
    inputs: z.array(inputSchema).default([]),
    outputs: z.array(z.string().min(1, 'a glob pattern such as *.csv')).default([]),
    progress: z.object({ pattern: z.string() }).strict().optional(),
    deployments: z.record(z.string(), deploymentSchema),
    headlineValues: z.array(headlineValueSchema).max(20).optional(),
  })
  .superRefine((app, context) => {
    if (app.progress) {
      try {
        compileProgressPattern(app.progress.pattern);
      } catch (error) {
        context.addIssue({ code: 'custom', path: ['progress', 'pattern'], message: (error as Error).message });
      }
    }
    const headlineNames = new Set<string>();
    for (const [index, headline] of (app.headlineValues ?? []).entries()) {
      if (headlineNames.has(headline.name))
        context.addIssue({
          code: 'custom',
          path: ['headlineValues', index, 'name'],
          message: `${headline.name} is declared twice`,
        });
      headlineNames.add(headline.name);
      // Only what stage-out brings back can be read: the file must match one of the outputs.
      if (
        !headline.file.split('/').includes('..') &&
        // An empty pattern is refused by its own rule, which zod reports beside this one.
        !app.outputs.some(
          (pattern) => pattern !== '' && picomatch.isMatch(headline.file, pattern, { dot: true, posix: true }),
        )
      )
        context.addIssue({
          code: 'custom',
          path: ['headlineValues', index, 'file'],
          message: `no pattern of outputs (${app.outputs.join(', ') || 'none'}) brings ${headline.file} back`,
        });
    }
    const names = new Set(app.inputs.map((input) => input.name));
    for (const input of app.inputs) {
      if (input.type === 'enum' && !input.values?.length) {
        context.addIssue({
          code: 'custom',
          path: ['inputs', input.name, 'values'],
          message: 'an enum input needs values',
        });
      }
      // A default is checked as a user's value would be (a `string` default is one line, say).
      if (input.default !== undefined) {
        const { problems } = validateInputs({ name: app.name, inputs: [input] } as ApplicationSpec, {});
        for (const problem of problems)
          context.addIssue({ code: 'custom', path: ['inputs', input.name, 'default'], message: problem.message });
      }
    }
    for (const [resource, deployment] of Object.entries(app.deployments)) {
      for (const part of deployment.command) {
        for (const [, placeholder] of part.matchAll(/\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g)) {
          if (placeholder !== 'apps' && !names.has(placeholder)) {
            context.addIssue({
              code: 'custom',
              path: ['deployments', resource, 'command'],
              message: `unknown placeholder {{${placeholder}}}`,
            });
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
  maxActiveJobs: z.number().int().positive().optional(),
  maxActiveCores: z.number().int().positive().optional(),
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
    hostKey: z
      .string()
      .regex(/^[a-z0-9@.-]+ [A-Za-z0-9+/=]+$/, 'an OpenSSH public key: "<type> <base64>"')
      .optional(),
    maxSessions: z.number().int().min(1).max(64).optional(),
  })
  .refine((ssh) => ssh.knownHostsPath || ssh.hostKey, {
    message: "give knownHostsPath or hostKey: the login node's host key is always checked",
  })
  .refine((ssh) => (ssh.credential === undefined) !== (ssh.privateKeyPath === undefined), {
    message: 'give credential (a stored SSH key, see POST /api/v1/credentials) or privateKeyPath, not both',
    path: ['credential'],
  });

/** The schema a resource must match. */
export const resourceSchema = z
  .object({
    name: nameSchema.refine((name) => name !== autoResource, {
      message: `"${autoResource}" is reserved: a request's resource "${autoResource}" lets Drover choose`,
    }),
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
      context.addIssue({
        code: 'custom',
        path: ['config', 'ssh'],
        message: `a ${resource.kind} resource needs ssh: host, user, credential (or privateKeyPath) and knownHostsPath or hostKey`,
      });
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
export async function upsertApplication(
  db: Queryable,
  gatewayId: string,
  raw: unknown,
  actor: CatalogueActor,
): Promise<ApplicationSpec> {
  const app = parseOrThrow(applicationSchema, raw, 'application') as ApplicationSpec;
  if (!actor.operator) {
    // A wildcard deployment (`*`) or one for a resource made later is stopped when an
    // experiment asks for a local resource (see registeredByOperator); this gives the early answer.
    const names = Object.keys(app.deployments);
    const local = await db.query<{ name: string }>(
      `select name from resources where gateway_id = $1 and name = any($2::text[]) and kind = 'local' order by name`,
      [gatewayId, names],
    );
    if (local.length > 0)
      throw operatorOnly(
        `deployments.${local[0].name}`,
        `${local[0].name} is a local resource: programs on it run on the Drover host`,
      );
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
export async function upsertResource(
  db: Queryable,
  gatewayId: string,
  raw: unknown,
  actor: CatalogueActor,
): Promise<ResourceSpec> {
  const resource = parseOrThrow(resourceSchema, raw, 'resource') as ResourceSpec;
  const ssh = resource.config.ssh;
  if (!actor.operator) {
    if (resource.kind === 'local') throw operatorOnly('kind', 'a local resource runs programs on the Drover host');
    if (ssh?.privateKeyPath !== undefined)
      throw operatorOnly(
        'config.ssh.privateKeyPath',
        'a file on the Drover host; store the key as a credential and give config.ssh.credential',
      );
    if (ssh?.knownHostsPath !== undefined)
      throw operatorOnly(
        'config.ssh.knownHostsPath',
        "a file on the Drover host; pin the login node's key with config.ssh.hostKey",
      );
    const existing = await db.query<{ kind: string }>(
      'select kind from resources where gateway_id = $1 and name = $2',
      [gatewayId, resource.name],
    );
    if (existing[0]?.kind === 'local')
      throw operatorOnly('name', `${resource.name} is a local resource of the platform operator`);
  }
  if (ssh?.credential !== undefined) {
    const found = await db.query('select 1 from credentials where gateway_id = $1 and name = $2', [
      gatewayId,
      ssh.credential,
    ]);
    if (found.length === 0) {
      throw new ValidationError('invalid resource', [
        {
          field: 'config.ssh.credential',
          message: `no credential ${JSON.stringify(ssh.credential)} in this gateway (GET /api/v1/credentials lists them)`,
        },
      ]);
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
  const rows = await db.query<{ spec: ApplicationSpec }>(
    'select spec from applications where gateway_id = $1 order by name',
    [gatewayId],
  );
  return rows.map((row) => row.spec);
}

export async function getApplication(db: Queryable, gatewayId: string, name: string): Promise<ApplicationSpec> {
  const rows = await db.query<{ spec: ApplicationSpec }>(
    'select spec from applications where gateway_id = $1 and name = $2',
    [gatewayId, name],
  );
  if (rows.length === 0) throw new NotFoundError(`application ${JSON.stringify(name)}`);
  return rows[0].spec;
}

/** Applications and resources of a gateway, looked up by name together (see `getCatalogueEntries`). */
export interface CatalogueEntries {
  /** Application name to its spec and whether the platform operator registered it. */
  applications: Map<string, { spec: ApplicationSpec; registeredByOperator: boolean }>;
  resources: Map<string, ResourceSpec>;
}

/**
 * The named applications and resources of a gateway in one round trip (creating
 * experiments needs both, for one experiment or a thousand). Names not found are absent.
 */
export async function getCatalogueEntries(
  db: Queryable,
  gatewayId: string,
  applicationNames: string[],
  resourceNames: string[],
): Promise<CatalogueEntries> {
  // $1 gateway, $2 application names, $3 resource names
  const [row] = await db.query<{
    applications: Array<{ name: string; spec: ApplicationSpec; registeredByOperator: boolean }>;
    resources: ResourceSpec[];
  }>(
    `select
       (select coalesce(json_agg(json_build_object('name', name, 'spec', spec,
          'registeredByOperator', registered_by_operator)), '[]')
        from applications where gateway_id = $1 and name = any($2::text[])) as applications,
       (select coalesce(json_agg(json_build_object('gatewayId', gateway_id, 'name', name, 'kind', kind,
          'config', config)), '[]')
        from resources where gateway_id = $1 and name = any($3::text[])) as resources`,
    [gatewayId, applicationNames, resourceNames],
    // Every creation runs it: parsed and planned once per connection.
    { prepared: true },
  );
  return {
    applications: new Map(
      row.applications.map((entry) => [
        entry.name,
        { spec: entry.spec, registeredByOperator: entry.registeredByOperator === true },
      ]),
    ),
    resources: new Map(row.resources.map((resource) => [resource.name, resource])),
  };
}

/** Whether the platform operator registered an application: only then may it run on a `local` resource. */
export async function registeredByOperator(db: Queryable, gatewayId: string, name: string): Promise<boolean> {
  const rows = await db.query<{ registered_by_operator: boolean }>(
    'select registered_by_operator from applications where gateway_id = $1 and name = $2',
    [gatewayId, name],
  );
  return rows[0]?.registered_by_operator === true;
}

export async function listResources(db: Queryable, gatewayId: string): Promise<ResourceSpec[]> {
  const rows = await db.query<any>(
    'select gateway_id as "gatewayId", name, kind, config from resources where gateway_id = $1 order by name',
    [gatewayId],
  );
  return rows;
}

export async function getResource(db: Queryable, gatewayId: string, name: string): Promise<ResourceSpec> {
  const rows = await db.query<any>(
    'select gateway_id as "gatewayId", name, kind, config from resources where gateway_id = $1 and name = $2',
    [gatewayId, name],
  );
  if (rows.length === 0) throw new NotFoundError(`resource ${JSON.stringify(name)}`);
  return rows[0];
}
