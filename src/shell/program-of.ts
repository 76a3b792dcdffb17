/**
 * Which program a command line runs, for the names in metrics and error messages.
 */

/**
 * The program `argv` runs: argv[0], or, for `env NAME=value ... program ...`, the program
 * `env` runs after its assignments and options (`env SLURM_TIME_FORMAT=%s squeue ...` runs
 * `squeue`); `env` when it names none. A poll's status command wrapped to also read its
 * jobs' output (batch/output-tail.ts: `bash -c <script> drover-status <marker> <bytes>
 * <command...>`) is the command it wraps: the poll is still one squeue or qstat.
 */
export function programOf(argv: readonly string[]): string {
  if (argv[0] === 'bash' && argv[1] === '-c' && argv[3] === 'drover-status') return programOf(argv.slice(6));
  if (argv[0] !== 'env') return argv[0];
  return argv.slice(1).find((argument) => !argument.includes('=') && !argument.startsWith('-')) ?? 'env';
}
