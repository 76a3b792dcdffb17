/**
 * The ends of jobs' stdout, read in the same remote command as the scheduler's status
 * (squeue, qstat): progress from inside running jobs costs no extra round trip and one
 * `tail` process for all of them, however many jobs a poll covers.
 */
import { open } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { jobOutputFiles } from '../domain/job.ts';
import { outputTailBytes } from '../domain/progress.ts';
import type { JobObservation, OutputTail, TrackedJob } from './port.ts';

/**
 * Runs the status command given as arguments with stdin closed, prints the marker line,
 * then `tail -v -c N` of every non-empty file named on stdin, and exits with the status
 * command's code, so its failures (slurmctld down) read as before. `tail -v` heads each
 * file with `==> path <==`.
 */
const statusAndTailsScript = `
marker=$1 bytes=$2; shift 2
"$@" < /dev/null; status=$?
printf '\\n%s\\n' "$marker"
files=()
while IFS= read -r file; do [ -s "$file" ] && files+=("$file"); done
[ "\${#files[@]}" -eq 0 ] || tail -v -c "$bytes" -- "\${files[@]}" 2> /dev/null
exit "$status"
`;

/** A status command wrapped to also bring back the jobs' output tails. */
export interface StatusWithTails {
  argv: string[];
  /** The stdout paths, one a line: give it to the command's stdin. */
  input: string;
  /** Splits the command's stdout into the status command's own output and the tail of each job's stdout, by native id. */
  split(stdout: string): { statusOutput: string; tails: Map<string, OutputTail> };
}

/**
 * Wraps `argv` (a status command run on the resource) so that the same command also
 * reads the last `outputTailBytes` of each job's stdout. A job's output cannot be mistaken
 * for the marker (random per poll); a program that prints another job's `==> path <==`
 * header could only misreport a job of the same gateway on the same resource account, whose
 * files it can already write (polls never mix gateways).
 */
export function withOutputTails(argv: string[], jobs: TrackedJob[]): StatusWithTails {
  const marker = `drover-tails-${randomBytes(12).toString('hex')}`;
  const paths = jobs.map((job) => ({ nativeId: job.nativeId, path: stdoutPathOf(job) }));
  for (const { path } of paths) {
    if (path.includes('\n')) throw new RangeError(`job directory holds a newline: ${JSON.stringify(path)}`);
  }
  return {
    argv: ['bash', '-c', statusAndTailsScript, 'drover-status', marker, String(outputTailBytes), ...argv],
    input: paths.map(({ path }) => `${path}\n`).join(''),
    split(stdout) {
      const separator = `\n${marker}\n`;
      const at = stdout.indexOf(separator);
      if (at < 0) return { statusOutput: stdout, tails: new Map() };
      const statusOutput = stdout.slice(0, at + 1);
      const rest = stdout.slice(at + separator.length);
      const tails = new Map<string, OutputTail>();
      // Each file's text runs from its header to the blank line before the next header found.
      const found: Array<{ nativeId: string; header: number; start: number }> = [];
      let cursor = 0;
      for (const { nativeId, path } of paths) {
        const header = `==> ${path} <==\n`;
        const index = rest.indexOf(found.length === 0 ? header : `\n${header}`, cursor);
        if (index < 0) continue;
        const start = index + (found.length === 0 ? 0 : 1) + header.length;
        found.push({ nativeId, header: index, start });
        cursor = start;
      }
      found.forEach((file, index) => {
        const end = index + 1 < found.length ? found[index + 1].header : rest.length;
        const text = rest.slice(file.start, end);
        tails.set(file.nativeId, { text, truncated: Buffer.byteLength(text) >= outputTailBytes });
      });
      return { statusOutput, tails };
    },
  };
}

/** Adds to each observation the tail of its job's stdout that the poll brought back. */
export function attachOutputs(
  observations: Map<string, JobObservation>,
  tails: Map<string, OutputTail>,
): Map<string, JobObservation> {
  for (const [nativeId, observation] of observations) {
    const output = tails.get(nativeId);
    if (output) observations.set(nativeId, { ...observation, output });
  }
  return observations;
}

/** The last `outputTailBytes` of a local file, or null when it is missing or empty. */
export async function readOutputTailFile(path: string): Promise<OutputTail | null> {
  const handle = await open(path, 'r').catch(() => null);
  if (!handle) return null;
  try {
    const { size } = await handle.stat();
    if (size === 0) return null;
    const length = Math.min(size, outputTailBytes);
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, size - length);
    return { text: buffer.subarray(0, bytesRead).toString('utf8'), truncated: size > length };
  } finally {
    await handle.close();
  }
}

/** Where a job's stdout goes: the same file on every kind of resource. */
export function stdoutPathOf(job: { workdir: string }): string {
  return posix.join(job.workdir, jobOutputFiles.stdout);
}
