/**
 * Turns a stored experiment into what a scheduler needs: the working directory and the
 * JobSpec (used by the submit task and by the script preview, so both show the same).
 */
import { posix } from 'node:path';
import type { ApplicationSpec, InputValue } from '../domain/application.ts';
import type { JobSettings, ResourceSpec } from '../domain/resource.ts';
import type { JobSpec } from '../batch/port.ts';
import { deploymentFor, renderArgv } from '../domain/render-command.ts';
import { getApplication, getResource } from '../catalogue/catalogue.ts';
import { NotFoundError } from '../domain/errors.ts';
import type { Queryable } from '../store/port.ts';

/** An experiment with everything needed to run it. */
export interface RunContext {
  experimentId: string;
  gatewayId: string;
  ownerId: string;
  state: string;
  application: ApplicationSpec;
  resource: ResourceSpec;
  inputs: Record<string, InputValue>;
  settings: JobSettings;
  /** Upload id and file name per file input. */
  files: Record<string, { uploadId: string; filename: string }>;
  /** The job's working directory on the resource. */
  workdir: string;
}

export async function loadRunContext(db: Queryable, experimentId: string): Promise<RunContext> {
  const rows = await db.query<any>(
    'select id, gateway_id, owner_id, state, application, resource, inputs, settings from experiments where id = $1',
    [experimentId],
  );
  if (rows.length === 0) throw new NotFoundError(`experiment ${experimentId}`);
  const row = rows[0];
  const application = await getApplication(db, row.gateway_id, row.application);
  const resource = await getResource(db, row.gateway_id, row.resource);
  const fileInputs = application.inputs.filter((input) => input.type === 'file' && row.inputs[input.name] !== undefined);
  const files: RunContext['files'] = {};
  if (fileInputs.length > 0) {
    const uploads = await db.query<{ id: string; filename: string }>('select id, filename from uploads where id = any($1::uuid[])', [
      fileInputs.map((input) => row.inputs[input.name]),
    ]);
    for (const input of fileInputs) {
      const upload = uploads.find((candidate) => candidate.id === row.inputs[input.name]);
      if (upload) files[input.name] = { uploadId: upload.id, filename: upload.filename };
    }
  }
  return {
    experimentId,
    gatewayId: row.gateway_id,
    ownerId: row.owner_id,
    state: row.state,
    application,
    resource,
    inputs: row.inputs,
    settings: row.settings,
    files,
    workdir: posix.join(resource.config.scratchDir, experimentId),
  };
}

/**
 * The submission key of one attempt of a submit task; the scheduler carries it (job name).
 * It names the experiment (a random UUID), not just the task's row id: several Drover
 * deployments, or one whose database was recreated, may share a cluster account, and a key
 * that repeats would make one adopt another's job.
 */
export function submissionKey(experimentId: string, taskId: number, attempt: number): string {
  return `drover-${experimentId.replaceAll('-', '').slice(0, 16)}-${taskId}-${attempt}`;
}

/** Builds the JobSpec for an experiment. */
export function buildJobSpec(context: RunContext, key: string, appsDir: string): JobSpec {
  const deployment = deploymentFor(context.application, context.resource.name);
  const staged = Object.fromEntries(Object.entries(context.files).map(([name, file]) => [name, `inputs/${file.filename}`]));
  return {
    submissionKey: key,
    workdir: context.workdir,
    jobName: `drover-${context.application.name}-${context.experimentId.slice(0, 8)}`.replace(/[^A-Za-z0-9_.-]/g, '_'),
    queue: context.settings.queue,
    nodes: context.settings.nodes,
    coresPerNode: context.settings.coresPerNode,
    memoryMb: context.settings.memoryMb,
    walltimeMinutes: context.settings.walltimeMinutes,
    account: deployment.account,
    environmentSetup: deployment.environmentSetup ?? [],
    argv: renderArgv(deployment, context.inputs, staged, appsDir),
    environment: { DROVER_EXPERIMENT_ID: context.experimentId, DROVER_APPLICATION: context.application.name },
  };
}
