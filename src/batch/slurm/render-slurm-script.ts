/**
 * The job script the Slurm adapter submits: `#SBATCH` directives, then the shared body.
 */
import type { JobShape, JobSpec } from '../port.ts';
import { jobOutputFiles } from '../../domain/job.ts';
import { checkBatchJobSpec, renderArrayWrapperBody, renderBatchJobBody, walltimeLimitMinutes } from '../job-script.ts';

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

/**
 * Renders the wrapper script of a Slurm job array of jobs with `spec`'s directives, whose
 * element i runs the i-th saved job script of the table the batch submit puts in
 * (`renderArrayWrapperBody`): `--job-name=<name>` (how a later attempt finds the array: each
 * element records the name and its index before the sbatch), `--comment=<the group>`, the
 * resource directives (every job of one array has the same, see `arrayGroupKey`), and
 * `--output`/`--error` on /dev/null: each element writes its own stdout.txt and stderr.txt
 * (Slurm's own messages about an element, such as a cancel, are not kept). Submitted with
 * `sbatch --array=0-<n - 1>`.
 *
 * @throws {TaskError} `invalid-job-spec` (final) when the spec cannot be used safely (see `checkBatchJobSpec`).
 */
export function renderSlurmArrayScript(name: string, spec: JobSpec): string {
  checkBatchJobSpec(spec);
  const directives = [
    `--job-name=${name}`,
    ...(spec.arrayGroup !== undefined ? [`--comment=${spec.arrayGroup}`] : []),
    '--output=/dev/null',
    '--error=/dev/null',
    ...slurmResourceOptions(spec),
  ];
  return [
    '#!/bin/bash',
    ...directives.map((directive) => `#SBATCH ${directive}`),
    ...renderArrayWrapperBody('${SLURM_ARRAY_TASK_ID:-}'),
  ].join('\n');
}
