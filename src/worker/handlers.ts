/**
 * One handler per task kind of the experiment DAG. Each is idempotent: a task runs at
 * least once, and a retried attempt must converge on the same result.
 */
import { mkdir, open as openFile, stat } from 'node:fs/promises';
import { dirname, posix } from 'node:path';
import type { TaskKind } from '../domain/task.ts';
import { ResourceUnreachableError } from '../domain/errors.ts';
import { TaskError, finalFailure, retryableFailure } from '../domain/failure.ts';
import { recordHeadlineValues, unblockExperiments } from '../state/experiment-state.ts';
import { extractHeadlineValues, headlineFileLimitBytes } from '../domain/headline-values.ts';
import { isTerminalJobState, jobOutputFiles } from '../domain/job.ts';
import type { Store } from '../store/port.ts';
import type { Storage } from '../files/storage.ts';
import type { ResourceRegistry } from '../resources/resource-registry.ts';
import { buildJobSpec, submissionKey } from '../experiments/job-spec.ts';
import { loadRunContext } from '../experiments/queries.ts';
import { registeredByOperator } from '../catalogue/catalogue.ts';
import { latestJob, recordSubmittedJobs, type SubmittedJobRecord } from '../state/job-state.ts';
import { batchPerTurn } from './batch-per-turn.ts';
import type { TaskHandler } from './worker.ts';
import type { SubmittedJob } from '../batch/port.ts';

export interface HandlerDependencies {
  store: Store;
  storage: Storage;
  resources: ResourceRegistry;
  /** Folder of the bundled demo programs (`{{apps}}`). */
  appsDir: string;
  /**
   * Called when the scheduler has accepted a new job (not an adopted one) and before
   * Drover records it: the window exactly-once adoption exists for. Test-only fault
   * injection, installed by the composition root (main.ts); unset in production.
   */
  afterSubmit?: (job: SubmittedJob) => void;
}

type HandledKind = Exclude<TaskKind, 'noop'>;

/**
 * The handlers, each wrapped so that a retried attempt that gets through unblocks its
 * experiment. A resource that does not answer fails the attempt as `resource-unreachable`
 * (the worker's `failureFromError`), and a cluster that refuses more of the owner's jobs
 * as `submit-limit`: both are retried without limit while the experiment shows `blocked`.
 */
export function createHandlers(deps: HandlerDependencies): Record<HandledKind, TaskHandler> {
  const handlers = createBareHandlers(deps);
  const wrap =
    (handler: TaskHandler): TaskHandler =>
    async (task, context) => {
      const outcome = await handler(task, context);
      if (task.attempt > 1) {
        await deps.store.transaction((tx) =>
          unblockExperiments(tx, [task.experimentId], `${task.kind} got through: the resource takes it again`),
        );
      }
      return outcome;
    };
  return Object.fromEntries(Object.entries(handlers).map(([kind, handler]) => [kind, wrap(handler)])) as Record<
    HandledKind,
    TaskHandler
  >;
}

function createBareHandlers(deps: HandlerDependencies): Record<HandledKind, TaskHandler> {
  const { store, storage, resources, appsDir } = deps;
  // The jobs of one array are answered in the same turn: record them in one transaction.
  const recordJob = batchPerTurn((jobs: SubmittedJobRecord[]) =>
    store.transaction((tx) => recordSubmittedJobs(tx, jobs)),
  );
  const open = async (experimentId: string) => {
    const context = await loadRunContext(store, experimentId);
    // The API refuses such an experiment; this holds for drafts made before a catalogue change.
    if (
      context.resource.kind === 'local' &&
      !(await registeredByOperator(store, context.gatewayId, context.application.name))
    ) {
      throw finalFailure(
        'not-permitted',
        `${context.resource.name} runs programs on the Drover host: only applications the platform operator registered may run there`,
      );
    }
    return { context, resource: resources.open(context.resource) };
  };

  return {
    async 'env-setup'(task, { whileWaiting }) {
      const { context, resource } = await open(task.experimentId);
      // The shell gathers the folders of many tasks into one mkdir: wait for it without a slot.
      await whileWaiting(resource.shell.makeDirectory(posix.join(context.workdir, 'inputs')));
      return { result: { workdir: context.workdir } };
    },

    async 'stage-in'(task) {
      const { context, resource } = await open(task.experimentId);
      const staged: string[] = [];
      for (const file of Object.values(context.files)) {
        await resource.shell.upload(
          storage.uploadPath(context.gatewayId, file.uploadId),
          posix.join(context.workdir, 'inputs', file.filename),
        );
        staged.push(file.filename);
      }
      return { result: { staged } };
    },

    async submit(task, { whileWaiting }) {
      const { context, resource } = await open(task.experimentId);
      // Only this run's attempts count: a resume or a resubmit runs the task again after
      // `runFirstAttempt`, and the job of an earlier run (failed, out of time) is never adopted.
      const firstAttempt = (task.runFirstAttempt ?? 0) + 1;
      const runKeys = Array.from({ length: task.attempt - firstAttempt + 1 }, (_, index) =>
        submissionKey(task.experimentId, task.id, firstAttempt + index),
      );
      const recorded = await latestJob(store, task.experimentId);
      if (recorded && recorded.taskId === task.id && runKeys.includes(recorded.submissionKey)) {
        return { result: { jobId: recorded.id, nativeId: recorded.nativeId, adopted: true } };
      }
      const key = submissionKey(task.experimentId, task.id, task.attempt);
      const earlierSubmissionKeys = runKeys.slice(0, -1);
      let submitted: SubmittedJob | null;
      const submittedAt = new Date();
      try {
        if (context.state === 'canceling' || context.state === 'canceled') {
          // Submit nothing more; but an earlier attempt (its worker killed, or cut off while
          // its sbatch ran) may have made a job: find it, after a submit still running, and
          // record it, so that the cancellation kills it.
          submitted =
            earlierSubmissionKeys.length > 0
              ? await resource.scheduler.find({ workdir: context.workdir, submissionKeys: earlierSubmissionKeys })
              : null;
          if (!submitted) return { result: { skipped: 'the experiment was canceled before its job was submitted' } };
        } else {
          // One decision per task on the resource: the submit adopts a job that any attempt
          // of this task made (an earlier one whose worker died, lost its connection or its
          // lease while its sbatch ran; or a later one, when this worker is the one that
          // lost its lease), and submits only when there is none, under the task's lock.
          // Slurm and PBS send the submits of many tasks in one command (BatchSubmitter):
          // wait for it without a slot, so that the tasks behind this one can join it.
          submitted = await whileWaiting(
            resource.scheduler.submit({
              ...buildJobSpec(context, key, appsDir),
              earlierSubmissionKeys,
            }),
          );
        }
      } catch (error) {
        if (error instanceof TaskError || error instanceof ResourceUnreachableError) throw error;
        // A value no job script or argv can hold (a NUL byte or a lone surrogate: shell-quote's
        // RangeError) is in the spec itself: every retry would render the same spec, so it fails for good.
        if (error instanceof RangeError)
          throw finalFailure('invalid-job-spec', `the job cannot be submitted: ${error.message}`);
        throw retryableFailure('submit-failed', `the scheduler refused the job: ${(error as Error).message}`);
      }
      if (!submitted.adopted) deps.afterSubmit?.(submitted);
      const job = await recordJob({
        experimentId: context.experimentId,
        taskId: task.id,
        gatewayId: context.gatewayId,
        resource: context.resource.name,
        submissionKey: submitted.submissionKey,
        nativeId: submitted.nativeId,
        queue: context.settings.queue,
        workdir: context.workdir,
        details: submitted.details,
        adopted: submitted.adopted,
        // An adopted job was sent by an earlier attempt, at a time not known here.
        submittedAt: submitted.adopted ? undefined : submittedAt,
      });
      return { result: { jobId: job.id, nativeId: job.nativeId, adopted: submitted.adopted } };
    },

    async monitor(task) {
      const job = await latestJob(store, task.experimentId);
      if (!job) return { result: { job: null } };
      if (isTerminalJobState(job.state)) return { result: { jobState: job.state, exitCode: job.exitCode } };
      // The controller's poller watches the job; no worker is held while it runs.
      return { detach: true };
    },

    async 'stage-out'(task) {
      const { context, resource } = await open(task.experimentId);
      // Canceled while its submit ran, which then submitted nothing: there is nothing to bring back.
      if (context.state === 'canceling' && !(await latestJob(store, task.experimentId)))
        return { result: { skipped: 'the experiment was canceled before its job was submitted' } };
      const patterns = [...context.application.outputs, ...Object.values(jobOutputFiles)];
      const found = await resource.shell.glob(context.workdir, patterns);
      const files: Array<{ path: string; size: number }> = [];
      for (const relative of found) {
        const target = storage.outputPath(context.gatewayId, context.experimentId, relative);
        if (!target) continue;
        await mkdir(dirname(target), { recursive: true });
        await resource.shell.download(posix.join(context.workdir, relative), target);
        files.push({ path: relative, size: (await stat(target)).size });
      }
      const headlines = context.application.headlineValues ?? [];
      if (headlines.length > 0) {
        const documents = new Map<string, unknown>();
        for (const file of new Set(headlines.map((headline) => headline.file))) {
          const path = storage.outputPath(context.gatewayId, context.experimentId, file);
          const document = path ? await readJsonOutput(path) : undefined;
          if (document !== undefined) documents.set(file, document);
        }
        const values = extractHeadlineValues(headlines, documents);
        await store.transaction((tx) => recordHeadlineValues(tx, context.experimentId, values));
      }
      return { result: { files } };
    },
  };
}

/**
 * A JSON output as stage-out stored it, parsed; undefined when it is missing, larger than
 * `headlineFileLimitBytes` or not JSON (a program killed while writing it, say). A program's
 * output is not trusted: a bad file gives no headline values, never a failed stage-out.
 */
async function readJsonOutput(path: string): Promise<unknown> {
  const handle = await openFile(path, 'r').catch(() => null);
  if (!handle) return undefined;
  try {
    const { size } = await handle.stat();
    if (size > headlineFileLimitBytes) return undefined;
    return JSON.parse(await handle.readFile('utf8'));
  } catch {
    return undefined;
  } finally {
    await handle.close();
  }
}
