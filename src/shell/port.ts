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
  /** Runs argv without a shell (each element is one argument). Never throws on a non-zero exit. */
  run(argv: string[], options?: RunOptions): Promise<CommandResult>;
  /** Creates a directory and its parents; succeeds if it exists. */
  makeDirectory(path: string): Promise<void>;
  /** Writes a file atomically (temp file + rename), with the given mode. */
  writeFile(path: string, data: string | Buffer, mode?: number): Promise<void>;
  /** Reads a file, or returns null when it does not exist. */
  readFile(path: string): Promise<Buffer | null>;
  /** Copies a file from this machine to the resource. */
  upload(localPath: string, remotePath: string): Promise<void>;
  /** Copies a file from the resource to this machine. */
  download(remotePath: string, localPath: string): Promise<void>;
  /** Lists files under `directory` (relative paths) that match any of the glob patterns. */
  glob(directory: string, patterns: string[]): Promise<string[]>;
  /** Releases connections. */
  close(): Promise<void>;
}
