/**
 * Shell adapter for a cluster login node over SSH (ssh2): one pooled connection per
 * resource, commands as exec channels, files over one SFTP channel.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import picomatch from 'picomatch';
import { Client, type ClientChannel, type ConnectConfig, type SFTPWrapper } from 'ssh2';
import { checkGlobPatterns } from './glob-patterns.ts';
import { programOf } from './program-of.ts';
import { shellQuote } from './shell-quote.ts';
import { ResourceUnreachableError } from '../domain/errors.ts';
import {
  explainHostKeyRejection,
  expectedKeyTypes,
  hostKeyAlgorithms,
  parseKnownHosts,
  parsePublicKey,
  publicKeyFromBlob,
  type HostKeyTrust,
  type PublicKey,
} from './known-hosts.ts';
import type { CommandResult, RunOptions, Shell } from './port.ts';
import type { SshConfig } from '../domain/resource.ts';

/**
 * Where and how to log in (a resource's `ssh` settings: host, port (22), user, private key
 * file (not passphrase-protected, read at each connect), known_hosts file (plain and hashed
 * entries, `[host]:port` for ports other than 22) or pinned host key, and `maxSessions`: the
 * bound on exec channels + the SFTP channel on the one connection, default 8, at least 2),
 * plus what the adapter reports to.
 */
export interface SshShellOptions extends SshConfig {
  /** Resource name, used in error messages. */
  resource: string;
  /**
   * The private key, in memory (a stored credential), asked for at each connect; used
   * instead of `privateKeyPath`. One of the two is required.
   */
  privateKey?: () => Promise<Buffer>;
  /** Bound on TCP connect + handshake + authentication; default 10000. */
  connectTimeoutMs?: number;
  /**
   * Called after every command with the program name (`programOf`: `env
   * SLURM_TIME_FORMAT=%s squeue ...` counts as `squeue`), duration and exit code (null
   * when the connection failed). Used for metrics and tests that count scheduler calls.
   */
  onCommand?: (event: { program: string; durationMs: number; code: number | null }) => void;
  logger?: Logger;
}

/** A makeDirectory call waiting for the next `mkdir` command. */
interface WaitingDirectory {
  path: string;
  resolve: () => void;
  reject: (error: Error) => void;
}
const maxDirectoryCommandsInFlight = 2;
const maxDirectoriesPerCommand = 100;

const defaultTimeoutMs = 60_000;
const firstBackoffMs = 1_000;
const maxBackoffMs = 30_000;
// A connection that died silently (no FIN, no RST) is noticed after about a minute.
const keepaliveIntervalMs = 15_000;
const keepaliveCountMax = 4;
// Waits before asking again for a session the server refused (see openChannel).
const sessionRetryDelaysMs = [5, 10, 20, 40, 80, 160, 320, 500, 500, 500];

/** The ssh2 internals the timeout needs (see exec). */
type ChannelInternals = {
  _client: { _protocol: { signal(id: number, name: string): void } };
  outgoing: { id: number };
};

/** One SSH connection and the SFTP channel opened on it. */
interface Connection {
  client: Client;
  open: boolean;
  sftp?: Promise<SFTPWrapper>;
  releaseSftpSlot?: () => void;
}

/**
 * The `Shell` port on a remote host over SSH. All calls share one connection, opened on
 * first use and reopened after it is lost; at most `maxSessions` channels are open on it at
 * once (one of them the SFTP channel once a file call has been made), the rest wait in
 * arrival order. The host key is always checked, against `hostKey` or `knownHostsPath`.
 *
 * Connection failures (refused, timeout, authentication, host key rejected, connection lost
 * while a call was running) throw `ResourceUnreachableError`. After a failed connect the
 * next attempt waits 1 s, then 2 s, 4 s ... up to 30 s; calls in that window fail at once
 * with a `ResourceUnreachableError` saying when the next attempt is. Commands run through
 * the remote user's login shell, which must be a POSIX shell (sh, bash, zsh, ksh).
 */
export class SshShell implements Shell {
  private readonly address: string;
  private readonly port: number;
  private readonly pinnedKey?: PublicKey;
  private readonly slots: Slots;
  private connection?: Promise<Connection>;
  private failures = 0;
  private nextAttemptAt = 0;
  private lastFailure = '';
  private closed = false;
  private waitingDirectories: WaitingDirectory[] = [];
  private directoryCommandsInFlight = 0;

  /**
   * @throws {TypeError} when neither `hostKey` nor `knownHostsPath` is given.
   * @throws {RangeError} when `hostKey` is not a public key or `maxSessions` is below 2.
   */
  constructor(private readonly options: SshShellOptions) {
    if (!options.hostKey && !options.knownHostsPath) {
      throw new TypeError(
        `ssh shell for ${options.resource}: give hostKey or knownHostsPath; host keys are always checked`,
      );
    }
    if (!options.privateKey && !options.privateKeyPath)
      throw new TypeError(`ssh shell for ${options.resource}: give privateKey or privateKeyPath`);
    const maxSessions = options.maxSessions ?? 8;
    // The SFTP channel may hold one session for as long as the connection lives.
    if (!Number.isInteger(maxSessions) || maxSessions < 2) throw new RangeError('maxSessions must be an integer >= 2');
    this.port = options.port ?? 22;
    this.address = `${options.user}@${options.host}:${this.port}`;
    if (options.hostKey) this.pinnedKey = parsePublicKey(options.hostKey);
    this.slots = new Slots(maxSessions);
  }

  /**
   * Runs argv on the remote host: every element is shell-quoted, so each reaches the
   * program as one argument, and the program replaces the login shell (`exec`). `input` is
   * written to its stdin, then stdin is closed. The exit code is the program's, or 128 +
   * the signal number when a signal ended it; 127 when the program is not found.
   *
   * When `timeoutMs` (default 60 s) runs out, the program is sent SIGKILL (servers older
   * than OpenSSH 7.9 ignore this), the channel is closed, and the result is code 137 with
   * the output so far and a line in stderr saying it timed out. The Shell conformance
   * suite (test/conformance/shell-suite.ts) holds every adapter to these codes.
   *
   * @throws {ResourceUnreachableError} when the host cannot be reached, or the connection
   *   was lost before the command finished (whether it ran is then unknown).
   * @throws {RangeError} when argv is empty or an element holds a NUL byte.
   */
  async run(argv: string[], options: RunOptions = {}): Promise<CommandResult> {
    if (argv.length === 0) throw new RangeError('argv must name a program');
    const cd = options.cwd === undefined ? '' : `cd -- ${shellQuote(options.cwd)} && `;
    const command = `${cd}exec ${argv.map(shellQuote).join(' ')}`;
    const started = performance.now();
    let code: number | null = null;
    try {
      await this.slots.acquire();
      const release = once(() => this.slots.release());
      const connection = await this.connect().catch((error) => {
        release();
        throw error;
      });
      const result = await this.exec(connection, command, argv[0], options, release);
      code = result.code;
      return result;
    } finally {
      this.options.onCommand?.({ program: programOf(argv), durationMs: performance.now() - started, code });
    }
  }

  /**
   * Creates `directoryPath` and its parents (`mkdir -p`); succeeds when it exists. Calls
   * made while a `mkdir` runs go together in the next one (at most two run at once, each
   * for up to 100 folders), so a burst of experiments' env-setup tasks costs the login node a
   * few commands rather than one each. A command that fails is made again per folder, so
   * each caller gets its own folder's error.
   */
  makeDirectory(directoryPath: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waitingDirectories.push({ path: directoryPath, resolve, reject });
      this.makeWaitingDirectories();
    });
  }

  private makeWaitingDirectories(): void {
    while (this.directoryCommandsInFlight < maxDirectoryCommandsInFlight && this.waitingDirectories.length > 0) {
      const batch = this.waitingDirectories.splice(0, maxDirectoriesPerCommand);
      this.directoryCommandsInFlight += 1;
      void this.makeDirectories(batch).finally(() => {
        this.directoryCommandsInFlight -= 1;
        this.makeWaitingDirectories();
      });
    }
  }

  private async makeDirectories(batch: WaitingDirectory[]): Promise<void> {
    const mkdir = (paths: string[]) => this.run(['mkdir', '-p', '--', ...paths]);
    let result: CommandResult | undefined;
    try {
      result = await mkdir([...new Set(batch.map((entry) => entry.path))]);
    } catch (error) {
      // The login node is unreachable: the same for every folder. Anything else (a path
      // run() refuses, with a NUL byte) is one folder's: each is tried alone below.
      if (batch.length === 1 || error instanceof ResourceUnreachableError) {
        for (const entry of batch) entry.reject(error as Error);
        return;
      }
    }
    if (result?.code === 0) {
      for (const entry of batch) entry.resolve();
      return;
    }
    const failed = (path: string, failure: CommandResult) =>
      new Error(`mkdir ${path} on ${this.options.resource}: ${failure.stderr.trim()}`);
    if (batch.length === 1) return batch[0].reject(failed(batch[0].path, result!));
    await Promise.all(
      batch.map(async (entry) => {
        try {
          const alone = await mkdir([entry.path]);
          if (alone.code === 0) entry.resolve();
          else entry.reject(failed(entry.path, alone));
        } catch (error) {
          entry.reject(error as Error);
        }
      }),
    );
  }

  /**
   * Writes `data` over SFTP to a temp file beside `filePath` (a dot file, so no glob lists
   * it), sets `mode` when given, then renames it over `filePath` with the atomic
   * posix-rename extension (or, on servers without it, removes the target and renames).
   */
  async writeFile(filePath: string, data: string | Buffer, mode?: number): Promise<void> {
    const directory = path.posix.dirname(filePath);
    const temporaryPath = `${directory}/.${path.posix.basename(filePath)}.${randomBytes(6).toString('hex')}.tmp`;
    await this.withSftp(`write ${filePath}`, async (sftp) => {
      try {
        await call((done) => sftp.writeFile(temporaryPath, data, { mode: mode ?? 0o666, flag: 'wx' }, done));
        // The server applies its umask on create; the mode asked for is set exactly.
        if (mode !== undefined) await call((done) => sftp.chmod(temporaryPath, mode, done));
        await renameOver(sftp, temporaryPath, filePath);
      } catch (error) {
        await call((done) => sftp.unlink(temporaryPath, done)).catch(() => {});
        throw error;
      }
    });
  }

  /**
   * Reads `filePath` over SFTP, or returns null when it does not exist.
   *
   * @throws when `filePath` is a symbolic link or not a regular file (see `download`).
   */
  async readFile(filePath: string): Promise<Buffer | null> {
    return this.withSftp(`read ${filePath}`, async (sftp) => {
      try {
        await refuseLink(sftp, filePath);
        return await call<Buffer>((done) => sftp.readFile(filePath, done));
      } catch (error) {
        if ((error as { code?: unknown }).code === 2) return null; // SSH_FX_NO_SUCH_FILE
        throw error;
      }
    });
  }

  /** Copies `localPath` on this machine to `remotePath` (whose folder must exist). */
  async upload(localPath: string, remotePath: string): Promise<void> {
    await this.withSftp(`upload to ${remotePath}`, (sftp) =>
      call((done) => sftp.fastPut(localPath, remotePath, done)).catch(hidePath(localPath)),
    );
  }

  /**
   * Copies `remotePath` to `localPath` on this machine (whose folder must exist).
   *
   * @throws when `remotePath` is a symbolic link or not a regular file: a job may plant a
   *   link to another user's files, which Drover must not bring back. SFTP has no
   *   O_NOFOLLOW, so this is an lstat before the copy; the job has finished by stage-out.
   */
  async download(remotePath: string, localPath: string): Promise<void> {
    await this.withSftp(`download ${remotePath}`, async (sftp) => {
      await refuseLink(sftp, remotePath);
      await call((done) => sftp.fastGet(remotePath, localPath, done)).catch(hidePath(localPath));
    });
  }

  /**
   * Lists regular files under `directory` that match any pattern, as sorted relative paths,
   * with one remote `find`, matched with picomatch (dot files only when a pattern names
   * them, `!pattern` excludes), as the Shell conformance suite requires of every adapter.
   * Symbolic links are not followed, so nothing outside `directory` is listed. Unlike
   * LocalShell (tinyglobby), `**` also reaches into dot folders named later in the pattern
   * (`**` + `/.cache/*`), and a linked folder is never entered.
   *
   * @throws {RangeError} when a pattern leaves `directory` (`checkGlobPatterns`).
   */
  async glob(directory: string, patterns: string[]): Promise<string[]> {
    checkGlobPatterns(patterns);
    // As tinyglobby (LocalShell) does: `./` and a trailing `/` dropped; `!x` excludes x.
    const normalize = (pattern: string) => path.posix.normalize(pattern.replace(/(.)\/$/, '$1'));
    const excludes = (pattern: string) => pattern.startsWith('!') && !pattern.startsWith('!(');
    const include = patterns.filter((pattern) => pattern !== '' && !excludes(pattern)).map(normalize);
    const exclude = patterns.filter(excludes).map((pattern) => normalize(pattern.slice(1)));
    if (include.length === 0) return [];
    // -H: follow `directory` itself when it is a link; NUL-separated, as names may hold newlines.
    const start = directory.startsWith('-') ? `./${directory}` : directory;
    const listing = await this.run(['find', '-H', start, '-type', 'f', '-printf', '%P\\0']);
    // A non-zero exit with output means some subfolder was unreadable: skipped, as locally.
    if (listing.code !== 0 && listing.stdout === '') {
      throw new Error(`cannot list ${directory} on ${this.options.resource}: ${listing.stderr.trim()}`);
    }
    const isIncluded = picomatch(include, { dot: false, posix: true });
    const isExcluded = exclude.length > 0 ? picomatch(exclude, { dot: false, posix: true }) : () => false;
    const files = listing.stdout.split('\0').filter((file) => file !== '');
    return files.filter((file) => isIncluded(file) && !isExcluded(file)).sort();
  }

  /**
   * Ends the connection. Calls waiting for a session are rejected, calls still running fail,
   * and later calls throw; all with an Error saying the shell was closed.
   */
  async close(): Promise<void> {
    this.closed = true;
    this.slots.rejectAll(this.closedError());
    const connection = await this.connection?.catch(() => undefined);
    if (!connection?.open) return;
    await new Promise<void>((resolve) => {
      connection.client.once('close', () => resolve());
      connection.client.end();
    });
  }

  /** Runs one command on an exec channel; calls `release` once the channel is gone. */
  private async exec(
    connection: Connection,
    command: string,
    program: string,
    options: RunOptions,
    release: () => void,
  ): Promise<CommandResult> {
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let exitCode: number | undefined;
    let closed = false;
    let onClose = () => {};
    // Listen as soon as ssh2 hands over the channel: the exit status of a quick command can
    // arrive in the same read as the channel, before an awaiting caller would resume.
    const listen = (channel: ClientChannel) => {
      channel.on('data', (chunk: Buffer) => stdout.push(chunk));
      channel.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
      channel.on('exit', (code: number | null, signal?: string) => {
        exitCode = code ?? 128 + (osConstants.signals[signal as NodeJS.Signals] ?? 0);
      });
      // Writing stdin to a program that already exited may fail; its exit code says enough.
      channel.on('error', () => {});
      channel.on('close', () => {
        closed = true;
        onClose();
      });
    };
    let channel: ClientChannel;
    try {
      channel = await this.openChannel<ClientChannel>(connection, program, (done) =>
        connection.client.exec(command, (error, opened) => {
          if (!error) listen(opened);
          done(error, opened);
        }),
      );
    } catch (error) {
      release();
      throw error;
    }
    const text = (chunks: Buffer[]) => Buffer.concat(chunks).toString('utf8');
    return new Promise((resolve, reject) => {
      const timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
      const timer = setTimeout(() => {
        // ssh2's public signal() refuses once stdin is closed; the SSH "signal" request does not.
        const internal = channel as unknown as ChannelInternals;
        if (connection.open) internal._client._protocol.signal(internal.outgoing.id, 'KILL');
        channel.close();
        const note = `drover: ${program} timed out after ${timeoutMs} ms on ${this.options.resource}; killed\n`;
        resolve({ code: 137, stdout: text(stdout), stderr: text(stderr) + note });
      }, timeoutMs);
      onClose = () => {
        clearTimeout(timer);
        release();
        if (exitCode !== undefined) return resolve({ code: exitCode, stdout: text(stdout), stderr: text(stderr) });
        // OpenSSH always sends an exit status or signal; without one, the session was cut.
        const why = connection.open ? 'session closed without an exit status' : 'connection lost';
        reject(
          this.closed ? this.closedError() : this.unreachable(`${why} while running ${program} on ${this.address}`),
        );
      };
      if (closed) return onClose();
      channel.end(options.input ?? '');
    });
  }

  /**
   * Opens a channel. OpenSSH refuses one ("open failed") when its MaxSessions is reached,
   * and frees a session a moment after we see it close, so a refusal under load is asked
   * again after a short wait (about 2 s in all) before it fails.
   */
  private async openChannel<T>(
    connection: Connection,
    what: string,
    start: (done: (error: Error | undefined, value: T) => void) => void,
  ): Promise<T> {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await call<T>(start);
      } catch (error) {
        if (this.closed) throw this.closedError();
        // ssh2 throws "Not connected" when the connection closed while this call waited.
        if (!connection.open)
          throw this.unreachable(`connection to ${this.address} lost before ${what} started`, error);
        const openRefused = (error as { reason?: unknown }).reason !== undefined; // not, say, "Unable to exec"
        if (!openRefused || attempt === sessionRetryDelaysMs.length) {
          const hint = openRefused ? `; is the server's MaxSessions below maxSessions (${this.slots.size})?` : '';
          throw this.unreachable(
            `${this.address} refused a session for ${what}: ${(error as Error).message}${hint}`,
            error,
          );
        }
        await sleep(sessionRetryDelaysMs[attempt]);
      }
    }
  }

  /** Runs an SFTP operation on the shared SFTP channel, opening it (and the connection) when needed. */
  private async withSftp<T>(what: string, operation: (sftp: SFTPWrapper) => Promise<T>): Promise<T> {
    const connection = await this.connect();
    connection.sftp ??= this.openSftp(connection);
    const sftp = await connection.sftp;
    // ssh2's readFile and fastGet never call back when the channel dies mid-transfer (they
    // wait for the answer to a close request sent on the dead channel), so race the close.
    const channelLost = new Error('the SFTP channel closed');
    let onClose = () => {};
    const channelClosed = new Promise<never>((_, reject) => {
      onClose = () => reject(channelLost);
      sftp.once('close', onClose);
    });
    try {
      if (!connection.open) throw channelLost;
      return await Promise.race([operation(sftp), channelClosed]);
    } catch (error) {
      if (this.closed) throw this.closedError();
      if (!connection.open || error === channelLost) {
        throw this.unreachable(`connection to ${this.address} lost during SFTP ${what}`, error);
      }
      throw new Error(`SFTP ${what} on ${this.options.resource}: ${(error as Error).message}`, { cause: error });
    } finally {
      sftp.off('close', onClose);
    }
  }

  private async openSftp(connection: Connection): Promise<SFTPWrapper> {
    await this.slots.acquire();
    const release = once(() => this.slots.release());
    connection.releaseSftpSlot = release;
    const forget = () => {
      if (connection.releaseSftpSlot === release) connection.sftp = undefined;
      release();
    };
    try {
      const sftp = await this.openChannel<SFTPWrapper>(connection, 'SFTP', (done) => connection.client.sftp(done));
      sftp.on('close', forget); // reopened by the next file call
      // withSftp adds one 'close' listener per file operation in flight, and any number may be.
      sftp.setMaxListeners(0);
      return sftp;
    } catch (error) {
      forget();
      throw error;
    }
  }

  /** The shared connection: the open one, the one being opened, or a new one unless backing off. */
  private connect(): Promise<Connection> {
    if (this.closed) return Promise.reject(this.closedError());
    if (this.connection) return this.connection;
    const waitMs = this.nextAttemptAt - Date.now();
    if (waitMs > 0) {
      const next = `next attempt in ${(waitMs / 1000).toFixed(1)} s (at ${new Date(this.nextAttemptAt).toISOString()})`;
      return Promise.reject(this.unreachable(`cannot reach ${this.address}: ${this.lastFailure}; ${next}`));
    }
    const attempt: Promise<Connection> = this.openConnection(() => {
      if (this.connection === attempt) this.connection = undefined;
    }).then(
      (connection) => {
        this.failures = 0;
        this.nextAttemptAt = 0;
        return connection;
      },
      (error: Error) => {
        if (this.connection === attempt) this.connection = undefined;
        // Only the host's fault backs off; a missing key file is reported as it is, each time.
        if (error instanceof ResourceUnreachableError) {
          this.failures += 1;
          this.nextAttemptAt = Date.now() + Math.min(firstBackoffMs * 2 ** (this.failures - 1), maxBackoffMs);
          this.lastFailure = (error as { detail?: string }).detail ?? error.message;
        }
        throw error;
      },
    );
    this.connection = attempt;
    return attempt;
  }

  private async openConnection(onClose: () => void): Promise<Connection> {
    const { host, user, privateKeyPath, knownHostsPath, logger, resource, connectTimeoutMs = 10_000 } = this.options;
    // Messages here reach the gateway's users (a blocked or failed experiment): they never
    // name a file on the Drover host or quote a key; the operator finds the detail in the log.
    const read = (file: string, what: string) =>
      fs.readFile(file).catch((error: Error) => {
        logger?.error({ resource, file, err: error }, `cannot read ${what}`);
        throw new Error(`cannot read ${what} for ${resource} (the platform operator's log has the details)`, {
          cause: error,
        });
      });
    const privateKey = this.options.privateKey
      ? await this.options.privateKey().catch((error: Error) => {
          logger?.error({ resource, err: error }, 'cannot load the stored SSH credential');
          throw new Error(`cannot use the SSH credential of ${resource}: ${error.message}`, { cause: error });
        })
      : await read(privateKeyPath!, 'the SSH key');
    const trust: HostKeyTrust = this.pinnedKey
      ? { pinned: this.pinnedKey }
      : {
          entries: parseKnownHosts((await read(knownHostsPath!, 'known_hosts')).toString('utf8')),
          file: `the known_hosts file of ${resource}`,
        };
    let rejection: string | undefined;
    const client = new Client();
    const connection: Connection = { client, open: false };
    return new Promise((resolve, reject) => {
      const fail = (detail: string, cause?: unknown) => {
        reject(Object.assign(this.unreachable(`cannot reach ${this.address}: ${detail}`, cause), { detail }));
        client.end();
      };
      // Without this, Nagle's algorithm and delayed ACKs add ~40 ms to each small command.
      client.on('connect', () => client.setNoDelay(true));
      client.on('ready', () => {
        connection.open = true;
        logger?.info({ resource, address: this.address }, 'ssh connected');
        resolve(connection);
      });
      client.on('error', (error: Error & { level?: string }) => {
        if (connection.open) return logger?.warn({ resource, err: error }, 'ssh connection error');
        // ssh2 says "Host denied" or "All configured authentication methods failed": say more.
        if (rejection) return fail(`host key rejected: ${rejection}`, error);
        if (error.level === 'client-authentication') {
          return fail(
            `${user} could not log in with ${this.options.privateKey ? `the credential ${JSON.stringify(this.options.credential ?? '')}` : 'its SSH key'} (${error.message})`,
            error,
          );
        }
        if (error.level === 'client-timeout')
          return fail(`no SSH login within ${connectTimeoutMs} ms (${error.message})`, error);
        fail(error.message, error);
      });
      client.on('close', () => {
        const wasOpen = connection.open;
        connection.open = false;
        connection.releaseSftpSlot?.();
        onClose();
        if (wasOpen) logger?.info({ resource, address: this.address }, 'ssh connection closed');
        else fail('connection closed during the handshake'); // no effect when an error came first
      });
      const config: ConnectConfig = {
        host,
        port: this.port,
        username: user,
        privateKey,
        readyTimeout: connectTimeoutMs,
        keepaliveInterval: keepaliveIntervalMs,
        keepaliveCountMax,
        hostVerifier: (blob: Buffer) => {
          rejection = explainHostKeyRejection(trust, host, this.port, publicKeyFromBlob(blob));
          return rejection === undefined;
        },
      };
      // Ask for a key of a type we can check (a host known only by its RSA key offers that one).
      const algorithms = hostKeyAlgorithms(expectedKeyTypes(trust, host, this.port));
      if (algorithms.length > 0) config.algorithms = { serverHostKey: algorithms as never };
      try {
        client.connect(config);
      } catch (error) {
        reject(new Error(`cannot connect to ${this.address}: ${(error as Error).message}`, { cause: error }));
      }
    });
  }

  private unreachable(message: string, cause?: unknown): ResourceUnreachableError {
    return new ResourceUnreachableError(this.options.resource, message, { cause });
  }

  private closedError(): Error {
    return new Error(`the ssh shell for ${this.options.resource} (${this.address}) was closed`);
  }
}

/**
 * Rethrows a local file error without the local path: these messages reach the gateway's
 * users (a failed stage-in or stage-out), and Drover's folders are not theirs to learn.
 */
function hidePath(localPath: string): (error: Error) => never {
  return (error) => {
    if (error.message.includes(localPath))
      error.message = error.message.replaceAll(localPath, 'the copy on the Drover host');
    throw error;
  };
}

/** Renames over an existing file: atomically with posix-rename@openssh.com, else remove + rename. */
async function renameOver(sftp: SFTPWrapper, from: string, to: string): Promise<void> {
  try {
    return await call((done) => sftp.ext_openssh_rename(from, to, done));
  } catch (error) {
    if (!/does not support/.test((error as Error).message)) throw error;
  }
  // Plain SFTP rename fails when the target exists.
  await call((done) => sftp.unlink(to, done)).catch(() => {});
  await call((done) => sftp.rename(from, to, done));
}

/** A FIFO counting semaphore: at most `size` holders; waiters are served in arrival order. */
class Slots {
  private free: number;
  private readonly waiting: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];
  constructor(readonly size: number) {
    this.free = size;
  }
  acquire(): Promise<void> {
    if (this.free > 0) {
      this.free -= 1;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }
  release(): void {
    const next = this.waiting.shift();
    if (next) next.resolve();
    else this.free += 1;
  }
  rejectAll(error: Error): void {
    for (const waiter of this.waiting.splice(0)) waiter.reject(error);
  }
}

function once(action: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    action();
  };
}

/** A Node-style callback call as a promise; also rejects when the call itself throws. */
function call<T = void>(start: (done: (error: Error | null | undefined, value?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    try {
      start((error, value) => (error ? reject(error) : resolve(value as T)));
    } catch (error) {
      reject(error);
    }
  });
}

/** Throws unless `filePath` (not followed) is a regular file; a missing file keeps SFTP's code 2. */
async function refuseLink(sftp: SFTPWrapper, filePath: string): Promise<void> {
  const info = await call<{ isFile(): boolean; isSymbolicLink(): boolean }>((done) =>
    sftp.lstat(filePath, done as any),
  );
  if (info.isSymbolicLink()) throw new Error(`${filePath} is a symbolic link: not followed`);
  if (!info.isFile()) throw new Error(`${filePath} is not a regular file`);
}
