/**
 * PBS's output, read: parsers for `qstat`, `qstat -f` and `qsub`, and the messages of the
 * PBS clients, as printed by Torque and by Slurm's Torque-style wrappers (slurm-wlm-torque).
 */

/** One job line of bare `qstat`. */
export interface QstatRow {
  jobId: string;
  /** Cut to 16 characters by qstat. */
  name: string;
  state: string;
  queue: string;
}

/**
 * Parses bare `qstat` output (`Job id  Name  Username  Time Use  S  Queue`, a dashed
 * line, then one line per job). The fields are taken from both ends of the line, so a
 * name with spaces does not shift them.
 */
export function parseQstat(stdout: string): QstatRow[] {
  const rows: QstatRow[] = [];
  for (const line of stdout.split('\n')) {
    const words = line.trim().split(/\s+/);
    if (words.length < 6 || /^-+$/.test(words[0]) || (words[0] === 'Job' && words[1] === 'id')) continue;
    rows.push({
      jobId: words[0],
      name: words.slice(1, -4).join(' '),
      state: words.at(-2)!,
      queue: words.at(-1)!,
    });
  }
  return rows;
}

/** Parses `qstat -f` into each job's id and full `Job_Name` (bare qstat cuts names to 16 characters). */
export function parseQstatFullNames(stdout: string): Array<{ jobId: string; name: string }> {
  const jobs: Array<{ jobId: string; name: string }> = [];
  let jobId: string | null = null;
  for (const line of stdout.split('\n')) {
    const header = /^Job Id:\s*(\S+)/.exec(line);
    if (header) {
      jobId = header[1];
      continue;
    }
    const name = /^\s+Job_Name = (.*)$/.exec(line);
    if (name && jobId !== null) jobs.push({ jobId, name: name[1].trim() });
  }
  return jobs;
}

/** The job id `qsub` printed (the last word of its output: `616`, or `616.server` with Torque), or null. */
export function parseQsubOutput(stdout: string): string | null {
  const id = stdout.trim().split(/\s+/).at(-1) ?? '';
  return pbsJobIdPattern.test(id) ? id : null;
}

/**
 * Job ids as PBS prints them: `616`, `616.server`, an array `616[].server`, its element
 * `616[3].server` (PBS Pro, Torque), or `616[3]`, the form Drover gives the elements of an
 * array that Slurm's qsub wrapper answered `616` for. Never an option.
 */
export const pbsJobIdPattern = /^\d+(\[\d*\])?(\.[A-Za-z0-9_.-]+)?$/;

/** An array element's id (`616[3]`, `616[3].server`) as its array's id and its index, or null. */
export function parsePbsArrayElementId(nativeId: string): { arrayId: string; index: number } | null {
  const match = /^(\d+)\[(\d+)\](\.[A-Za-z0-9_.-]+)?$/.exec(nativeId);
  return match ? { arrayId: match[1], index: Number(match[2]) } : null;
}

/** The element `index` of the array qstat or qsub names `arrayId` (`616`, `616[]`, `616[].server`): `616[3]`, `616[3].server`. */
export function pbsArrayElementId(arrayId: string, index: number): string {
  const match = /^(\d+)(?:\[\d*\])?(\..*)?$/.exec(arrayId);
  return match ? `${match[1]}[${index}]${match[2] ?? ''}` : `${arrayId}[${index}]`;
}

/**
 * True when a PBS client's message means the server did not answer: Torque's
 * `cannot connect to server`, `Connection refused`, `pbs_iff`; the Slurm wrappers'
 * `Unable to contact slurm controller`, `Socket timed out` and qstat's bare
 * `Problem loading jobs.`
 */
export function isPbsUnreachableMessage(message: string): boolean {
  return /unable to contact slurm controller|socket timed out|connection refused|connection timed out|cannot connect to server|pbs_iff|problem loading jobs|communication failure|zero bytes were transmitted|slurm_receive_msg/i.test(
    message,
  );
}

/**
 * The message of a refused `qsub`. The Slurm wrapper wraps sbatch's error in
 * `There was an error running the Slurm sbatch command ... and the output was: '<...>'`;
 * that inner text is returned (without `sbatch: error: `), else all of the output.
 */
export function qsubErrorMessage(output: string): string {
  const inner = /and the output was:\s*'([\s\S]*)'\s*$/.exec(output.trim());
  const text = inner ? inner[1] : output;
  const lines = text
    .split('\n')
    .map((line) => line.trim().replace(/^(sbatch|qsub): (error: )?/, ''))
    .filter((line) => line !== '');
  return lines.join('; ') || 'qsub failed without a message';
}
