/**
 * Automatic resubmit, as the controller applies it when it completes the monitors of ended
 * jobs: a job that ran past its walltime or out of memory runs again with more (the rules in
 * domain/resubmit.ts), as a new job of the same run: its submit and monitor run again
 * (state/task-state.ts `rerunTasks`), and stage-out waits for the new job.
 */
import { getApplication, getResource } from '../catalogue/catalogue.ts';
import { NotFoundError } from '../domain/errors.ts';
import { deploymentFor } from '../domain/render-command.ts';
import type { JobSettings } from '../domain/resource.ts';
import { decideResubmit, resubmitCause } from '../domain/resubmit.ts';
import { appendEvents, type NewEvent, type Notice } from '../state/events.ts';
import { recordResubmit } from '../state/experiment-state.ts';
import { recordResubmitRefusal } from '../state/job-state.ts';
import { rerunTasks, type EndedMonitor } from '../state/task-state.ts';
import type { Queryable } from '../store/port.ts';

/**
 * Resubmits the jobs of `monitors` (locked by findEndedMonitors in the caller's transaction)
 * that ended for lack of walltime or memory, where their application's `resubmit` allows and
 * their queue has room; for those it refuses, records why on the job, for the experiment's
 * failure message. Returns the ids of the monitor tasks rerun: the caller must not complete them.
 */
export async function resubmitEndedJobs(tx: Queryable, monitors: EndedMonitor[]): Promise<Set<number>> {
  const rerun = new Set<number>();
  const candidates = monitors.filter(
    (monitor) => monitor.jobId !== null && (monitor.jobState === 'timed-out' || monitor.jobState === 'failed'),
  );
  if (candidates.length === 0) return rerun;
  const pending = { events: [] as NewEvent[], notices: [] as Notice[] };
  for (const monitor of candidates) {
    const [experiment] = await tx.query<{
      gateway_id: string;
      application: string;
      resource: string;
      settings: JobSettings;
      resubmits: number;
      submit_id: number;
    }>(
      `select e.gateway_id, e.application, e.resource, e.settings, e.resubmits,
         (select id from tasks where experiment_id = e.id and kind = 'submit') as submit_id
       from experiments e where e.id = $1 and e.state in ('queued', 'executing', 'blocked') for update`,
      [monitor.experimentId],
    );
    if (!experiment || experiment.submit_id === null) continue;
    const found = await lookUp(tx, experiment);
    if (!found) continue;
    const { resource, application } = found;
    const cause = resubmitCause(
      resource.kind,
      { state: monitor.jobState!, nativeState: monitor.nativeState, exitCode: monitor.exitCode },
      experiment.settings,
    );
    const policy = deploymentFor(application, resource.name).resubmit ?? application.resubmit;
    // Without a policy the experiment fails as it always has, with the same message.
    if (cause === null || policy === undefined) continue;
    const queue = resource.config.queues.find((candidate) => candidate.name === experiment.settings.queue);
    const decision = decideResubmit(cause, experiment.settings, queue, policy, experiment.resubmits);
    if (!decision.resubmit) {
      await recordResubmitRefusal(tx, monitor.jobId!, decision.refusal);
      continue;
    }
    if (!(await recordResubmit(tx, monitor.experimentId, decision, pending.events))) continue;
    await rerunTasks(tx, monitor.experimentId, [Number(experiment.submit_id)], 'automatic resubmit', pending);
    rerun.add(monitor.taskId);
  }
  await appendEvents(tx, pending.events, pending.notices);
  return rerun;
}

/** The experiment's resource and application, or null when the catalogue no longer has one. */
async function lookUp(tx: Queryable, experiment: { gateway_id: string; application: string; resource: string }) {
  try {
    return {
      resource: await getResource(tx, experiment.gateway_id, experiment.resource),
      application: await getApplication(tx, experiment.gateway_id, experiment.application),
    };
  } catch (error) {
    if (error instanceof NotFoundError) return null;
    throw error;
  }
}
