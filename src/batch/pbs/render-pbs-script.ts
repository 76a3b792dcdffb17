/**
 * The job script the PBS adapter submits: `#PBS` directives, then the shared body.
 */
import type { JobSpec } from '../port.ts';
import { checkBatchJobSpec, renderBatchJobBody, walltimeLimitMinutes } from '../job-script.ts';

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
  const walltime = formatPbsWalltime(walltimeLimitMinutes(spec.walltimeMinutes));
  const directives = [
    `-N ${spec.submissionKey}`,
    `-l nodes=${spec.nodes}:ppn=${spec.coresPerNode},walltime=${walltime}`,
    ...(spec.memoryMb !== undefined ? [`-l mem=${spec.memoryMb}mb`] : []),
    ...(spec.queue !== undefined ? [`-q ${spec.queue}`] : []),
    ...(spec.account !== undefined ? [`-A ${spec.account}`] : []),
  ];
  return ['#!/bin/bash', ...directives.map((directive) => `#PBS ${directive}`), ...renderBatchJobBody(spec)].join('\n');
}
