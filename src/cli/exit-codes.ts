/**
 * The CLI's exit codes, one meaning each, so a script can tell "the experiment failed" from
 * "I typed the command wrong" and "the server is down" (README, "Exit codes").
 */
export const exitCodes = {
  /** The command did what it was asked; `watch` and `--watch`: the experiment completed. */
  ok: 0,
  /** The API refused the request (a bad input value, not found, not allowed); the message says why. */
  refused: 1,
  /** The command line is wrong: an unknown flag or command, a missing argument, a malformed `-i`, a file that cannot be read. */
  usage: 2,
  /** `watch` and `--watch`: the experiment failed. */
  failed: 3,
  /** `watch` and `--watch`: the experiment was canceled. */
  canceled: 4,
  /** No API to talk to: none configured, or it cannot be reached. Worth retrying later. */
  unreachable: 5,
} as const;

/** The exit code of `watch` for an experiment that ended in `state`. */
export function exitCodeOfFinalState(state: string): number {
  if (state === 'completed') return exitCodes.ok;
  if (state === 'canceled') return exitCodes.canceled;
  return exitCodes.failed;
}
