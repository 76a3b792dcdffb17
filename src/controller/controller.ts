/**
 * The controller: singleton duties run by whichever controller holds the leadership
 * lease (a second one is a hot standby). Each pass calls the workers that stopped
 * heartbeating lost and returns their tasks to `ready` (the attempt uncounted), does the
 * same for expired task leases, carries out cancellations, admits waiting experiments
 * (experiments/admission.ts), polls every active job with one scheduler call per resource,
 * and completes the monitor tasks of finished jobs.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Store } from '../store/port.ts';
import type { ResourceRegistry } from '../resources/resource-registry.ts';
import type { JobObservation } from '../batch/port.ts';
import { getResource } from '../catalogue/catalogue.ts';
import { admitWaiting, type AdmissionPass } from '../experiments/admission.ts';
import { resubmitEndedJobs } from '../experiments/resubmit.ts';
import { admissionChannel } from '../state/events.ts';
import { forgetGoneWorkers, markSilentWorkersLost } from '../state/worker-state.ts';
import { pollIntervalMs } from '../domain/resource.ts';
import {
  blockExperiments,
  hasBlockedExperiments,
  listCanceling,
  settleExperiments,
  unblockExperiments,
} from '../state/experiment-state.ts';
import {
  applyObservations,
  listActiveJobs,
  listJobsToCancel,
  recordProgress,
  requestCancel,
  submittedNativeState,
  type ActiveJob,
  type JobRecord,
} from '../state/job-state.ts';
import {
  compileProgressPattern,
  mergeProgress,
  readProgress,
  type CompiledPattern,
  type JobProgress,
} from '../domain/progress.ts';
import {
  applyOutcomes,
  cancelOpenTasksOfMany,
  findEndedMonitors,
  recoverExpiredLeases,
  skipWaitingTasks,
} from '../state/task-state.ts';

/** The longest wait between polls of a resource that does not answer. */
const maxPollBackoffMs = 5 * 60_000;
/**
 * A resource with jobs submitted since its last poll is polled again after a fifth of its
 * interval, and never sooner than this: a steady stream of submits costs at most one
 * extra `squeue` a second.
 */
const minEarlyPollGapMs = 1000;
/**
 * The admission pass runs when `admissionChannel` says the line may have changed, and at
 * least this often regardless: fair share drifts as usage decays, and a notification can
 * be missed while the listening connection reconnects.
 */
const admissionIdleMs = 30_000;
/**
 * Job cancels sent to one resource at once: a sweep's cancel is a thousand scancels, which
 * one after the other held the controller's pass (and every poll) for minutes. The SSH
 * pool of a resource has 8 sessions by default.
 */
const cancelsAtOnce = 8;
/** How often the controller forgets workers gone for a day (the workers list keeps them that long). */
const forgetEveryMs = 3_600_000;

export interface ControllerOptions {
  store: Store;
  resources: ResourceRegistry;
  logger: Logger;
  /** Time between passes (config `controller.pollMs`); resources are polled every pass unless their `pollIntervalSeconds` says otherwise. */
  pollMs: number;
  /** How fast admission forgets past usage in fair share (config `controller.fairShareHalfLifeHours`). */
  fairShareHalfLifeHours: number;
  /** How long leadership lasts without renewal (config `controller.leadershipMs`). */
  leadershipMs: number;
  /**
   * This is the only process on the store (the embedded store allows one): take
   * leadership at once instead of waiting for a dead predecessor's to expire.
   */
  exclusive: boolean;
  /** Called after each job poll with the resource and the number of jobs it covered (metrics, tests). */
  onSchedulerPoll?: (resource: string, jobs: number) => void;
  /** Called after each admission pass with what it did and how long it took (metrics, tests). */
  onAdmissionPass?: (pass: AdmissionPass & { durationMs: number }) => void;
}

export class Controller {
  /** Names the process, so an operator can tell which controller leads. */
  readonly id = `controller-${process.pid}-${randomUUID().slice(0, 8)}`;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = false;
  /** Per resource (gateway + name): when to poll next, and how many polls failed in a row. */
  private readonly health = new Map<string, { nextPollAt: number; earlyPollAt: number; failures: number }>();
  /** Applications' progress templates, compiled once each. */
  private readonly patterns = new Map<string, CompiledPattern | null>();
  /** Whether something changed who may start since the last admission pass (see `admissionChannel`). */
  private admissionDue = true;
  private nextAdmissionAt = 0;
  private leading = false;
  private nextForgetAt = 0;
  private unlisten?: Promise<(() => Promise<void>) | undefined>;

  /** Takes compiled options: the defaults live in config.ts alone. */
  constructor(private readonly options: ControllerOptions) {}

  start(): void {
    this.unlisten = this.options.store
      .listen(admissionChannel, () => {
        this.admissionDue = true;
      })
      .catch((error) => {
        this.options.logger.error({ err: error }, 'cannot listen for admission changes: admitting every 30 s only');
        return undefined;
      });
    const loop = async () => {
      if (this.stopped) return;
      this.running = this.pass().catch((error) => this.options.logger.error({ err: error }, 'controller pass failed'));
      await this.running;
      if (!this.stopped) this.timer = setTimeout(loop, this.options.pollMs);
    };
    void loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    await (
      await this.unlisten
    )?.();
    await this.options.store
      .query(`delete from controller_leadership where name = 'controller' and holder = $1`, [this.id])
      .catch(() => {});
  }

  /** One pass of every duty; does nothing unless this controller is the leader. */
  async pass(): Promise<void> {
    const leading = await this.lead();
    // A controller that takes over has not heard what changed while it stood by.
    if (leading && !this.leading) this.admissionDue = true;
    this.leading = leading;
    if (!leading) return;
    const { store } = this.options;
    // Each duty on its own: one that fails (a bad row, a bug) is logged and the others still run.
    await this.duty('membership', async () => {
      const lost = await store.transaction((tx) => markSilentWorkersLost(tx));
      if (lost.length > 0)
        this.options.logger.warn(
          { workers: lost },
          'workers stopped heartbeating: lost, their tasks back in the queue',
        );
      if (Date.now() >= this.nextForgetAt) {
        this.nextForgetAt = Date.now() + forgetEveryMs;
        await forgetGoneWorkers(store);
      }
    });
    await this.duty('lease recovery', async () => {
      while ((await store.transaction((tx) => recoverExpiredLeases(tx))) > 0);
    });
    await this.duty('cancellation', () => this.cancelRequested());
    await this.admit();
    await this.duty('job polling', () => this.pollJobs());
    await this.duty('monitor completion', () => this.completeMonitors());
  }

  private async duty(name: string, run: () => Promise<void>): Promise<void> {
    try {
      await run();
    } catch (error) {
      this.options.logger.error({ err: error, duty: name }, `controller ${name} failed`);
    }
  }

  /**
   * The admission pass, when something changed who may start (or `admissionIdleMs` passed):
   * reading every waiting experiment each pass would cost the most when nothing moves.
   */
  private async admit(): Promise<void> {
    if (!this.admissionDue && Date.now() < this.nextAdmissionAt) return;
    // Cleared first: a change announced while the pass runs brings another pass.
    this.admissionDue = false;
    this.nextAdmissionAt = Date.now() + admissionIdleMs;
    const started = performance.now();
    try {
      const pass = await admitWaiting(this.options.store, this.options.fairShareHalfLifeHours);
      this.options.onAdmissionPass?.({ ...pass, durationMs: performance.now() - started });
    } catch (error) {
      this.admissionDue = true;
      this.options.logger.error({ err: error, duty: 'admission' }, 'controller admission failed');
    }
  }

  /** Takes or renews the leadership row; true while this controller leads. */
  private async lead(): Promise<boolean> {
    const rows = await this.options.store.query(
      `insert into controller_leadership (name, holder, expires_at) values ('controller', $1, now() + $2 * interval '1 millisecond')
       on conflict (name) do update set holder = excluded.holder, expires_at = excluded.expires_at
         where $3 or controller_leadership.holder = excluded.holder or controller_leadership.expires_at < now()
       returning holder`,
      [this.id, this.options.leadershipMs, this.options.exclusive],
    );
    return rows.length > 0;
  }

  /**
   * Polls all active jobs, grouped by resource: one scheduler call per resource, each
   * resource on its own interval, all resources at once (a slow one holds up no other).
   */
  private async pollJobs(): Promise<void> {
    const jobs = await listActiveJobs(this.options.store);
    const byResource = new Map<string, ActiveJob[]>();
    for (const job of jobs) {
      const key = `${job.gatewayId}\u0000${job.resource}`;
      const group = byResource.get(key);
      if (group) group.push(job);
      else byResource.set(key, [job]);
    }
    await Promise.all(
      [...byResource].map(([key, group]) =>
        // One resource's trouble (say, deleted from the catalogue) must not stop the others' polls.
        this.pollResource(key, group).catch((error) =>
          this.options.logger.error({ err: error, resource: key.split('\u0000')[1] }, 'polling the resource failed'),
        ),
      ),
    );
  }

  /**
   * One poll of one resource. When the resource does not answer, its experiments show
   * `blocked` with the reason and the next poll backs off (interval x 2, x 4 ... up to
   * 5 minutes); the first poll that gets through returns them to where they were.
   */
  private async pollResource(key: string, group: ActiveJob[]): Promise<void> {
    const { store, resources, logger } = this.options;
    const [gatewayId, resourceName] = key.split('\u0000');
    const health = this.health.get(key) ?? { nextPollAt: 0, earlyPollAt: 0, failures: 0 };
    this.health.set(key, health);
    // A job just submitted is polled soon, not a whole interval later: it may already run
    // (and print progress) while the page would still say queued.
    const submittedSincePoll = group.some((job) => job.nativeState === submittedNativeState);
    const early = submittedSincePoll && health.failures === 0 && Date.now() >= health.earlyPollAt;
    if (Date.now() < health.nextPollAt && !early) return;
    const spec = await getResource(store, gatewayId, resourceName);
    const interval = pollIntervalMs(spec, this.options.pollMs);
    const started = Date.now();
    let observations: Map<string, JobObservation>;
    try {
      observations = await resources.open(spec).scheduler.poll(group.map(toTracked));
      this.options.onSchedulerPoll?.(resourceName, group.length);
    } catch (error) {
      health.failures += 1;
      const delay = Math.min(maxPollBackoffMs, interval * 2 ** health.failures);
      health.nextPollAt = started + delay;
      const reason = `${resourceName} does not answer (${(error as Error).message}); next try in ${Math.round(delay / 1000)} s`;
      logger.warn(
        { err: error, resource: resourceName, failures: health.failures },
        'polling the resource failed; experiments blocked until it answers',
      );
      await store.transaction((tx) =>
        blockExperiments(tx, [...new Set(group.map((job) => job.experimentId))], {
          reason,
          nextTryAt: new Date(health.nextPollAt),
        }),
      );
      return;
    }
    health.failures = 0;
    health.nextPollAt = started + interval;
    health.earlyPollAt = started + Math.max(minEarlyPollGapMs, interval / 5);
    const observed = group.flatMap((job) => {
      const observation = job.nativeId ? observations.get(job.nativeId) : undefined;
      return observation ? [{ job, observation }] : [];
    });
    const progress = this.readProgress(observed);
    // Checked in the store, not in `health`: the controller that saw the outage may have died.
    const blocked = await hasBlockedExperiments(store, gatewayId, resourceName);
    if (observed.length === 0 && !blocked) return;
    await store.transaction(async (tx) => {
      if (blocked)
        await unblockExperiments(
          tx,
          [...new Set(group.map((job) => job.experimentId))],
          `${resourceName} answers again`,
        );
      await applyObservations(tx, observed);
      await recordProgress(tx, progress);
    });
  }

  /** The progress each observed job reported since it was stored, for the jobs whose progress changed. */
  private readProgress(
    observed: Array<{ job: ActiveJob; observation: JobObservation }>,
  ): Array<{ job: ActiveJob; progress: JobProgress }> {
    const now = new Date();
    return observed.flatMap(({ job, observation }) => {
      if (!observation.output) return [];
      const report = readProgress(observation.output.text, {
        truncated: observation.output.truncated,
        pattern: this.compiledPattern(job.progressPattern),
      });
      const progress = mergeProgress(job.progress, report, now);
      return progress ? [{ job, progress }] : [];
    });
  }

  /** An application's progress template, compiled once; null when it has none (or an unusable one from before patterns were checked). */
  private compiledPattern(pattern: string | null): CompiledPattern | null {
    if (pattern === null) return null;
    if (!this.patterns.has(pattern)) {
      let compiled: CompiledPattern | null = null;
      try {
        compiled = compileProgressPattern(pattern);
      } catch (error) {
        this.options.logger.warn({ err: error, pattern }, 'an application progress pattern cannot be used');
      }
      this.patterns.set(pattern, compiled);
    }
    return this.patterns.get(pattern)!;
  }

  /**
   * Completes detached monitor tasks whose job has finished (any order of events converges
   * here), however it ended: canceled through Drover or on the cluster, past its walltime,
   * failed. Stage-out then brings back its logs and the partial outputs it wrote, and the
   * experiment settles by the rule of domain/experiment.ts (`experimentOutcome`): canceled
   * when it was being canceled or its job was, failed for a walltime. A job that ran past
   * its walltime or out of memory is first resubmitted with more where its application
   * allows (experiments/resubmit.ts): its monitor then waits for the new job instead.
   */
  private async completeMonitors(): Promise<void> {
    const { store } = this.options;
    await store.transaction(async (tx) => {
      const ended = await findEndedMonitors(tx);
      const resubmitted = await resubmitEndedJobs(tx, ended);
      const monitors = ended.filter((monitor) => !resubmitted.has(monitor.taskId));
      await applyOutcomes(
        tx,
        { detached: true },
        monitors.map((monitor) => ({
          taskId: monitor.taskId,
          outcome: 'completed' as const,
          result: { jobState: monitor.jobState, exitCode: monitor.exitCode },
        })),
      );
    });
  }

  /**
   * Kills the jobs of canceling experiments and cancels their tasks that have not started
   * (all of them before the submit started; the monitor and stage-out stay after it).
   */
  private async cancelRequested(): Promise<void> {
    const { store } = this.options;
    const experiments = await listCanceling(store);
    if (experiments.length > 0) {
      // One statement each for all of them: a sweep's cancel is a thousand experiments.
      await store.transaction(async (tx) => {
        await cancelOpenTasksOfMany(tx, experiments);
        await requestCancel(tx, experiments);
      });
    }
    const byResource = new Map<string, JobRecord[]>();
    for (const job of await listJobsToCancel(store)) {
      const key = `${job.gatewayId}\u0000${job.resource}`;
      byResource.set(key, [...(byResource.get(key) ?? []), job]);
    }
    // Resources side by side, as their polls are: a slow one holds up no other.
    await Promise.all([...byResource.values()].map((jobs) => this.cancelJobsOn(jobs)));
    if (experiments.length > 0) {
      await store.transaction(async (tx) => {
        await skipWaitingTasks(tx, experiments);
        await settleExperiments(tx, experiments);
      });
    }
  }

  /**
   * Cancels `jobs` (all on one resource), a few at once, then observes them in one poll and
   * records what it saw: a job still shown queued or running is recorded canceled (the
   * scheduler took the cancel; its end is what a later poll would show). A job whose
   * cancel failed stays asked for, and is tried again next pass.
   */
  private async cancelJobsOn(jobs: JobRecord[]): Promise<void> {
    const { store, resources, logger } = this.options;
    try {
      const handle = resources.open(await getResource(store, jobs[0].gatewayId, jobs[0].resource));
      const canceled: JobRecord[] = [];
      await inTurns(jobs, cancelsAtOnce, async (job) => {
        try {
          await handle.scheduler.cancel(toTracked(job));
          canceled.push(job);
        } catch (error) {
          logger.warn({ err: error, job: job.id }, 'canceling the job failed; will retry');
        }
      });
      if (canceled.length === 0) return;
      const observed = await handle.scheduler.poll(canceled.map(toTracked));
      const updates = canceled.map((job) => {
        const seen = observed.get(job.nativeId ?? '');
        const observation: JobObservation =
          seen && seen.state !== 'running' && seen.state !== 'queued'
            ? seen
            : { nativeId: job.nativeId ?? '', state: 'canceled', nativeState: 'canceled' };
        return { job, observation };
      });
      await store.transaction((tx) => applyObservations(tx, updates));
    } catch (error) {
      logger.warn({ err: error, resource: jobs[0].resource }, 'canceling jobs failed; will retry');
    }
  }
}

/** Runs `run` on every item, at most `lanes` at once. */
async function inTurns<T>(items: readonly T[], lanes: number, run: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(lanes, items.length) }, async () => {
      while (next < items.length) await run(items[next++]);
    }),
  );
}

function toTracked(job: JobRecord) {
  return { nativeId: job.nativeId ?? '', workdir: job.workdir, submissionKey: job.submissionKey, details: job.details };
}
