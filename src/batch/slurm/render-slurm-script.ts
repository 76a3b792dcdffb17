/**
 * The job script the Slurm adapter submits: `#SBATCH` directives, then the shared body.
 */
import type { JobShape, JobSpec } from '../port.ts';
import { jobOutputFiles } from '../../domain/job.ts';
import { checkBatchJobSpec, renderBatchJobBody, walltimeLimitMinutes } from '../job-script.ts';

/**
 * A Slurm time limit for whole minutes: `HH:MM:SS`, or `D-HH:MM:SS` from one day on.
 * `formatSlurmTimeLimit(90)` is `01:30:00`; `formatSlurmTimeLimit(1500)` is `1-01:00:00`.
 */
export function formatSlurmTimeLimit(minutes: number): string {
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  const clock = [hours, minutes % 60, 0].map((part) => String(part).padStart(2, '0')).join(':');
  return days > 0 ? `${days}-${clock}` : clock;
}

/**
 * The options that say where a job runs and what it may use: `--partition` (queue) and
 * `--account` when set, `--nodes`, `--ntasks-per-node` (coresPerNode), `--mem=<n>M` when
 * set, `--time` (walltimeMinutes rounded up to whole minutes, Slurm's granularity). Values
 * must have been checked (`checkBatchJobSpec`).
 */
export function slurmResourceOptions(shape: JobShape): string[] {
  return [
    ...(shape.queue !== undefined ? [`--partition=${shape.queue}`] : []),
    ...(shape.account !== undefined ? [`--account=${shape.account}`] : []),
    `--nodes=${shape.nodes}`,
    `--ntasks-per-node=${shape.coresPerNode}`,
    ...(shape.memoryMb !== undefined ? [`--mem=${shape.memoryMb}M`] : []),
    `--time=${formatSlurmTimeLimit(walltimeLimitMinutes(shape.walltimeMinutes))}`,
  ];
}

/**
 * Renders the sbatch script for `spec`:
 *
 * - `--job-name=<submissionKey>`, so that `squeue --name` and `sacct --name` find the job
 *   from its key alone, and `--comment=<jobName>` for people reading `squeue`;
 * - `--chdir=<workdir>`, `--output=<workdir>/stdout.txt`, `--error=<workdir>/stderr.txt`;
 * - `slurmResourceOptions`;
 * - then the shared body (`renderBatchJobBody`).
 *
 * @throws {TaskError} `invalid-job-spec` (final) when a value cannot be used safely (see `checkBatchJobSpec`).
 */
export function renderSlurmScript(spec: JobSpec): string {
  checkBatchJobSpec(spec);
  const workdir = spec.workdir.replace(/\/+$/, '') || '/';
  const directives = [
    `--job-name=${spec.submissionKey}`,
    `--comment=${spec.jobName}`,
    `--chdir=${workdir}`,
    `--output=${workdir}/${jobOutputFiles.stdout}`,
    `--error=${workdir}/${jobOutputFiles.stderr}`,
    ...slurmResourceOptions(spec),
  ];
  return ['#!/bin/bash', ...directives.map((directive) => `#SBATCH ${directive}`), ...renderBatchJobBody(spec)].join(
    '\n',
  );
}
