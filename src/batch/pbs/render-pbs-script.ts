/**
 * The job script the PBS adapter submits: `#PBS` directives, then the shared body.
 */
import type { JobSpec } from '../port.ts';
import { checkBatchJobSpec, renderArrayWrapperBody, renderBatchJobBody, walltimeLimitMinutes } from '../job-script.ts';

/** A PBS walltime for whole minutes: `HH:MM:SS` (hours may pass 24): `formatPbsWalltime(90)` is `01:30:00`. */
export function formatPbsWalltime(minutes: number): string {
  return [Math.floor(minutes / 60), minutes % 60, 0].map((part) => String(part).padStart(2, '0')).join(':');
}

/**
 * Renders the qsub script for `spec`:
 *
 * - `#PBS -N <submissionKey>`, so that `qstat -f` finds the job from its key alone;
 * - `#PBS -l nodes=<nodes>:ppn=<coresPerNode>,walltime=HH:MM:SS` (walltimeMinutes rounded
 *   up to whole minutes), `#PBS -l mem=<n>mb` when set, `#PBS -q` and `#PBS -A` when set;
 * - then the shared body (`renderBatchJobBody`).
 *
 * There are no `-o`/`-e` directives: Slurm's qsub wrapper overrides them, so the adapter
 * passes them on the qsub command line.
 *
 * @throws {TaskError} `invalid-job-spec` (final) when a value cannot be used safely (see `checkBatchJobSpec`).
 */
export function renderPbsScript(spec: JobSpec): string {
  checkBatchJobSpec(spec);
  const directives = [`-N ${spec.submissionKey}`, ...resourceDirectives(spec)];
  return ['#!/bin/bash', ...directives.map((directive) => `#PBS ${directive}`), ...renderBatchJobBody(spec)].join('\n');
}

/**
 * Renders the wrapper script of a PBS job array of jobs with `spec`'s directives, whose
 * element i runs the i-th saved job script of the table the batch submit puts in
 * (`renderArrayWrapperBody`; the index from `PBS_ARRAY_INDEX` (PBS Pro), `PBS_ARRAYID`
 * (Torque) or `SLURM_ARRAY_TASK_ID` (Slurm's qsub wrapper)): `#PBS -N <name>` and the
 * resource directives (every job of one array has the same, see `arrayGroupKey`). Submitted
 * with `qsub -J 0-<n - 1> -o /dev/null -e /dev/null`: each element writes its own stdout.txt
 * and stderr.txt.
 *
 * @throws {TaskError} `invalid-job-spec` (final) when the spec cannot be used safely (see `checkBatchJobSpec`).
 */
export function renderPbsArrayScript(name: string, spec: JobSpec): string {
  checkBatchJobSpec(spec);
  const directives = [`-N ${name}`, ...resourceDirectives(spec)];
  return [
    '#!/bin/bash',
    ...directives.map((directive) => `#PBS ${directive}`),
    ...renderArrayWrapperBody('${PBS_ARRAY_INDEX:-${PBS_ARRAYID:-${SLURM_ARRAY_TASK_ID:-}}}'),
  ].join('\n');
}

/** The directives that say what a job needs: nodes and cores, walltime, memory, queue, account. */
function resourceDirectives(spec: JobSpec): string[] {
  const walltime = formatPbsWalltime(walltimeLimitMinutes(spec.walltimeMinutes));
  return [
    `-l nodes=${spec.nodes}:ppn=${spec.coresPerNode},walltime=${walltime}`,
    ...(spec.memoryMb !== undefined ? [`-l mem=${spec.memoryMb}mb`] : []),
    ...(spec.queue !== undefined ? [`-q ${spec.queue}`] : []),
    ...(spec.account !== undefined ? [`-A ${spec.account}`] : []),
  ];
}
