/**
 * Shell adapter for this machine: child processes without a shell, and node:fs.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { pipeline } from 'node:stream/promises';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { glob } from 'tinyglobby';
import { checkGlobPatterns } from './glob-patterns.ts';
import { openRegularFile } from './open-regular-file.ts';
import type { CommandResult, RunOptions, Shell } from './port.ts';

const defaultTimeoutMs = 60_000;

/**
 * The `Shell` port on this machine. Commands run with `spawn` and no shell, so each argv
 * element reaches the program as one argument. Uploads and downloads are plain copies.
 */
export class LocalShell implements Shell {
  /**
   * Runs `argv` without a shell. The exit code is the program's, or 128 + the signal
   * number when a signal ended it (137 when `timeoutMs`, default 60 s, ran out and the
   * command was killed). A program that cannot be started gives 127 (not found) or 126
   * (not executable), as a shell would, with the reason in `stderr`.
   */
  run(argv: string[], options: RunOptions = {}): Promise<CommandResult> {
    if (argv.length === 0) {
      return Promise.reject(new RangeError('argv must name a program'));
    }
    const [program, ...argumentsList] = argv;
    return new Promise((resolve) => {
      const child = spawn(program, argumentsList, {
        cwd: options.cwd,
        shell: false,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      let settled = false;
      const finish = (result: CommandResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(result);
      };
      const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? defaultTimeoutMs);

      child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
      child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
      child.on('error', (error: NodeJS.ErrnoException) => {
        const code = error.code === 'ENOENT' ? 127 : 126;
        finish({ code, stdout: '', stderr: `${program}: ${error.message}\n` });
      });
      // 'close' (not 'exit') so that all output has been read.
      child.on('close', (code, signal) => {
        const signalNumber = signal ? (osConstants.signals[signal] ?? 0) : 0;
        finish({
          code: code ?? 128 + signalNumber,
          stdout: Buffer.concat(stdout).toString('utf8'),
          stderr: Buffer.concat(stderr).toString('utf8'),
        });
      });
      // A command that does not read its stdin must not crash us with EPIPE.
      child.stdin.on('error', () => {});
      child.stdin.end(options.input ?? '');
    });
  }

  /** Creates `directoryPath` and its parents; succeeds when it exists. */
  async makeDirectory(directoryPath: string): Promise<void> {
    await fs.mkdir(directoryPath, { recursive: true });
  }

  /**
   * Writes `data` to a temp file beside `filePath`, sets `mode` (when given, exactly,
   * whatever the umask), then renames it over `filePath`, so readers see the old file or
   * the whole new one, never a part.
   */
  async writeFile(filePath: string, data: string | Buffer, mode?: number): Promise<void> {
    const temporaryPath = path.join(
      path.dirname(filePath),
      `.${path.basename(filePath)}.${randomBytes(6).toString('hex')}.tmp`,
    );
    try {
      await fs.writeFile(temporaryPath, data, { mode: mode ?? 0o666, flag: 'wx' });
      if (mode !== undefined) await fs.chmod(temporaryPath, mode);
      await fs.rename(temporaryPath, filePath);
    } catch (error) {
      await fs.rm(temporaryPath, { force: true });
      throw error;
    }
  }

  /**
   * Reads `filePath`, or returns null when it does not exist.
   *
   * @throws when `filePath` is a symbolic link (a job may plant one to read files outside
   *   its folder through Drover) or not a regular file.
   */
  async readFile(filePath: string): Promise<Buffer | null> {
    let handle: fs.FileHandle;
    try {
      ({ handle } = await openRegularFile(filePath));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    try {
      return await handle.readFile();
    } finally {
      await handle.close();
    }
  }

  /** Copies `localPath` to `remotePath` (both on this machine). */
  async upload(localPath: string, remotePath: string): Promise<void> {
    await fs.copyFile(localPath, remotePath);
  }

  /**
   * Copies `remotePath` to `localPath` (both on this machine).
   *
   * @throws when `remotePath` is a symbolic link or not a regular file: what a job leaves
   *   is copied into Drover's storage, and must never bring a file from elsewhere with it.
   */
  async download(remotePath: string, localPath: string): Promise<void> {
    const { handle: source } = await openRegularFile(remotePath);
    try {
      await pipeline(source.createReadStream({ autoClose: false }), createWriteStream(localPath));
    } finally {
      await source.close();
    }
  }

  /**
   * Lists regular files under `directory` that match any pattern, as sorted relative
   * paths. Dot files are not matched, and symbolic links are neither followed nor listed. A result whose
   * real path is outside `directory` (through a symbolic link or a brace expansion) is
   * left out.
   *
   * @throws {RangeError} when a pattern leaves `directory` (`checkGlobPatterns`).
   */
  async glob(directory: string, patterns: string[]): Promise<string[]> {
    checkGlobPatterns(patterns);
    if (patterns.length === 0) return [];
    const realDirectory = await fs.realpath(directory);
    const matches = await glob(patterns, {
      cwd: realDirectory,
      onlyFiles: true,
      dot: false,
      absolute: false,
      followSymbolicLinks: false,
      expandDirectories: false,
    });
    const inside: string[] = [];
    for (const match of matches) {
      const relative = path.relative(realDirectory, path.resolve(realDirectory, match));
      if (escapes(relative)) continue;
      let realPath: string;
      try {
        // A link is never listed, even to a file inside (as SshShell's `find -type f`):
        // `download` refuses links, and the file it names is listed on its own.
        if ((await fs.lstat(path.join(realDirectory, relative))).isSymbolicLink()) continue;
        realPath = await fs.realpath(path.join(realDirectory, relative));
      } catch {
        continue; // removed since the listing, or a dangling link
      }
      if (escapes(path.relative(realDirectory, realPath))) continue;
      inside.push(relative);
    }
    return [...new Set(inside)].sort();
  }

  /** Nothing to release on this machine. */
  async close(): Promise<void> {}
}

/** True when a path relative to a directory points outside it. */
function escapes(relative: string): boolean {
  return relative === '' || relative === '..' || relative.startsWith('../') || path.isAbsolute(relative);
}
