/**
 * Turns a stored experiment (its RunContext, queries.ts) into what a scheduler needs: the
 * JobSpec and the submission key (used by the submit task and by the script preview, so
 * both show the same).
 */
import type { JobSpec } from '../batch/port.ts';
import { deploymentFor, renderArgv } from '../domain/render-command.ts';
import type { RunContext } from './queries.ts';

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
  const staged = Object.fromEntries(
    Object.entries(context.files).map(([name, file]) => [name, `inputs/${file.filename}`]),
  );
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
    // A sweep's elements that reach the login node together go as one job array.
    ...(context.sweepId ? { arrayGroup: context.sweepId, arrayGroupSize: context.sweepSize ?? undefined } : {}),
    environmentSetup: deployment.environmentSetup ?? [],
    argv: renderArgv(deployment, context.inputs, staged, appsDir),
    environment: { DROVER_EXPERIMENT_ID: context.experimentId, DROVER_APPLICATION: context.application.name },
  };
}
