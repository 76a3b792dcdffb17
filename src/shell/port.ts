/**
 * Shell port: how Drover runs commands and moves files on a resource. `LocalShell` works on
 * this machine, `SshShell` (ssh2) on a cluster's login node; both pass the Shell
 * conformance suite (test/conformance/shell-suite.ts), which is what this port promises.
 */

/** Result of one command. */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  /** Text written to the command's stdin. */
  input?: string;
  /** Kill the command after this long (default 60 s). */
  timeoutMs?: number;
}

/** Commands and files on one resource. Paths are absolute paths on that resource. */
export interface Shell {
  /**
   * Runs argv without a shell (each element is one argument, whatever characters it
   * holds). Never throws on a non-zero exit: the code is the program's, 127 when it does
   * not exist, 128 + n when signal n ended it, 137 when `timeoutMs` ran out and it was
   * killed (with the output so far). A missing `cwd` is a failed command, not a throw.
   *
   * @throws {RangeError} when argv is empty.
   */
  run(argv: string[], options?: RunOptions): Promise<CommandResult>;
  /** Creates a directory and its parents; succeeds if it exists. */
  makeDirectory(path: string): Promise<void>;
  /**
   * Writes a file atomically (temp file + rename, no temp file left), with exactly the
   * given mode (when one is given) whatever the umask. Throws when the folder does not exist.
   */
  writeFile(path: string, data: string | Buffer, mode?: number): Promise<void>;
  /**
   * Reads a file, or returns null when it (or its folder) does not exist. Throws for a
   * symbolic link or anything but a regular file: a job may plant a link to files that
   * are not its own.
   */
  readFile(path: string): Promise<Buffer | null>;
  /** Copies a file from this machine to the resource. */
  upload(localPath: string, remotePath: string): Promise<void>;
  /** Copies a file from the resource to this machine; refuses a link or a non-regular file, as `readFile`. */
  download(remotePath: string, localPath: string): Promise<void>;
  /**
   * Lists the regular files under `directory` that match any of the glob patterns, as
   * sorted relative paths: dot files only when a pattern names them, `!pattern` excludes,
   * links neither listed nor followed out of `directory`.
   *
   * @throws {RangeError} when a pattern leaves `directory` (see `checkGlobPatterns`).
   * @throws when `directory` does not exist.
   */
  glob(directory: string, patterns: string[]): Promise<string[]>;
  /** Releases connections. */
  close(): Promise<void>;
}
