/**
 * The `auto` resource choice: of the resources an application is deployed on, the one
 * expected to start a new experiment first. Pure: the outlooks are gathered by
 * experiments/resource-choice.ts, from each scheduler (`BatchScheduler.expectStart`) and
 * from Drover's own admission line.
 */

/** The resource name a request gives to let Drover choose (never a resource's own name). */
export const autoResource = 'auto';

/** What is known about one candidate resource for a new experiment. */
export interface ResourceOutlook {
  resource: string;
  /**
   * Experiments of Drover's own line that start on this resource and queue before the new
   * one: those waiting for admission there, plus one when a limit is already reached.
   */
  droverAhead: number;
  /** The gateway's experiments active there now: between resources expected to start as soon, the less busy one is taken. */
  active: number;
  /** A typical run there, in seconds: recent completed jobs' mean, else the walltime asked. */
  typicalRunSeconds: number;
  /** How `typicalRunSeconds` was found, for the event. */
  typicalRunBasis: 'recent runs' | 'walltime';
  /** The scheduler's outlook, or why there is none (it did not answer, refused the shape). */
  scheduler: { startsInSeconds?: number; queuedAhead?: number; basis: string } | { unanswered: string };
}

/** One candidate as the choice weighed it. */
export interface WeighedResource {
  resource: string;
  /** Expected seconds until its start; null when its scheduler did not answer. */
  expectedWaitSeconds: number | null;
  /** In words: `Slurm expects a start at once; 2 waiting ahead in Drover`. */
  why: string;
}

/** The chosen resource and every candidate as weighed, in the order given. */
export interface ResourceChoice {
  resource: string;
  candidates: WeighedResource[];
  /** One line for the experiment's `created` event. */
  summary: string;
}

/**
 * The expected wait on one candidate: the scheduler's own forecast (Slurm), else its queue
 * length times a typical run (PBS), plus a typical run for each experiment ahead in
 * Drover's line. A rough upper bound meant for ranking, not a promise.
 */
export function expectedWaitSeconds(outlook: ResourceOutlook): number | null {
  if ('unanswered' in outlook.scheduler) return null;
  const scheduler =
    outlook.scheduler.startsInSeconds ?? (outlook.scheduler.queuedAhead ?? 0) * outlook.typicalRunSeconds;
  return scheduler + outlook.droverAhead * outlook.typicalRunSeconds;
}

/** Expected starts closer than this are a tie: no forecast is finer. */
const tieSeconds = 60;

/**
 * Picks the candidate expected to start first. Ties (within a minute) go to the one where
 * the gateway has fewer experiments active, so that idle resources share the work, then
 * to the earlier candidate. Candidates whose scheduler did not answer are passed over;
 * when none answered, Drover's own line alone decides.
 *
 * @throws {RangeError} when `outlooks` is empty.
 */
export function chooseResource(outlooks: readonly ResourceOutlook[]): ResourceChoice {
  if (outlooks.length === 0) throw new RangeError('no candidate resources');
  const candidates = outlooks.map((outlook) => weigh(outlook));
  const answered = outlooks.filter((outlook) => !('unanswered' in outlook.scheduler));
  const wait = (outlook: ResourceOutlook) =>
    answered.length > 0 ? expectedWaitSeconds(outlook)! : outlook.droverAhead * outlook.typicalRunSeconds;
  const pool = answered.length > 0 ? answered : outlooks;
  const soonest = Math.min(...pool.map(wait));
  const best = pool
    .filter((outlook) => wait(outlook) < soonest + tieSeconds)
    .reduce((best, outlook) => (outlook.active < best.active ? outlook : best));
  const chosen = candidates[outlooks.indexOf(best)];
  const others = candidates.filter((candidate) => candidate !== chosen);
  const summary =
    `Drover chose ${chosen.resource} (auto)` +
    (answered.length > 0 ? ', expected to start first' : ': no scheduler answered, so by its own line') +
    `: ${chosen.why}` +
    (others.length > 0 ? `; ${others.map((other) => `${other.resource}: ${other.why}`).join('; ')}` : '');
  return { resource: chosen.resource, candidates, summary };
}

function weigh(outlook: ResourceOutlook): WeighedResource {
  const parts: string[] = [];
  if ('unanswered' in outlook.scheduler) parts.push(outlook.scheduler.unanswered);
  else {
    parts.push(outlook.scheduler.basis);
    if (outlook.scheduler.startsInSeconds === undefined && (outlook.scheduler.queuedAhead ?? 0) > 0)
      parts.push(`a typical run ${describeRun(outlook)}`);
  }
  if (outlook.active > 0) parts.push(`${outlook.active} of the gateway's experiments active there`);
  if (outlook.droverAhead > 0)
    parts.push(
      `${outlook.droverAhead} ahead in Drover's line` +
        (parts.some((part) => part.startsWith('a typical run')) ? '' : `, a typical run ${describeRun(outlook)}`),
    );
  return { resource: outlook.resource, expectedWaitSeconds: expectedWaitSeconds(outlook), why: parts.join(', ') };
}

function describeRun(outlook: ResourceOutlook): string {
  const minutes = Math.max(1, Math.round(outlook.typicalRunSeconds / 60));
  return `${minutes} min (${outlook.typicalRunBasis === 'walltime' ? 'its walltime' : 'recent runs'})`;
}
