/**
 * The Shell conformance suite: what every adapter of the Shell port (src/shell/port.ts)
 * must do, so that handlers and schedulers can use any of them alike. `LocalShell` runs it
 * in the quick tier, `SshShell` against the test cluster's login node in the slurm tier.
 *
 * Each test works in its own folder under the setup's scratch directory, makes its
 * fixtures through the shell under test (links and FIFOs with `ln -s` and `mkfifo`, as a
 * job would plant them), and the suite removes the whole folder at the end.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Shell } from '../../src/shell/port.ts';

/** How an adapter runs the suite. */
export interface ShellConformanceSetup {
  /** A new shell of the adapter under test; the suite closes every shell it made. */
  createShell(): Shell;
  /** An absolute directory on the resource; the suite makes and removes its own folder below it. */
  scratchDirectory: string;
}

/** Registers the Shell conformance tests for one adapter, named `name`. */
export function shellConformance(name: string, setup: ShellConformanceSetup): void {
  describe(`Shell conformance: ${name}`, { concurrency: true }, () => {
    const root = `${setup.scratchDirectory}/shell-suite-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
    const shells: Shell[] = [];
    const localDirectories: string[] = [];
    let shell: Shell;
    let folders = 0;

    /** A new, empty folder of this test on the resource. */
    const folder = async (label: string): Promise<string> => {
      folders += 1;
      const directory = `${root}/${folders}-${label}`;
      await shell.makeDirectory(directory);
      return directory;
    };
    /** A new, empty folder on this machine (uploads and downloads). */
    const localFolder = async (): Promise<string> => {
      const directory = await fs.mkdtemp(path.join(os.tmpdir(), 'drover-shell-suite-'));
      localDirectories.push(directory);
      return directory;
    };
    /** Runs a fixture command through the shell under test; it must succeed. */
    const must = async (argv: string[]): Promise<string> => {
      const result = await shell.run(argv);
      assert.equal(result.code, 0, `${argv.join(' ')}: ${result.stderr}`);
      return result.stdout;
    };

    before(async () => {
      shell = setup.createShell();
      shells.push(shell);
      await shell.makeDirectory(root);
    });
    after(async () => {
      await shell.run(['rm', '-rf', '--', root]).catch(() => {});
      for (const each of shells) await each.close().catch(() => {});
      for (const directory of localDirectories) await fs.rm(directory, { recursive: true, force: true });
    });

    describe('run', { concurrency: true }, () => {
      it('passes every argv element to the program as one argument, and never to a shell', async () => {
        const marker = `${await folder('quoting')}/marker`;
        const argv = [
          `$(touch ${marker}-a)`,
          `\`touch ${marker}-b\``,
          "'",
          '"',
          "it's",
          '*',
          'two words',
          'line\nbreak',
          '',
          `; touch ${marker}-c`,
          `| touch ${marker}-d`,
          '\\',
          '$HOME',
          '~',
          '!',
          '&&',
          '#',
          '-n',
          `a'b"c$d\`e`,
          'ünïcødé ✓',
        ];
        const result = await shell.run(['printf', '%s\\0', ...argv]);
        assert.equal(result.code, 0, result.stderr);
        assert.deepEqual(result.stdout.split('\0').slice(0, -1), argv);
        assert.equal(
          await must(['sh', '-c', `ls -d ${marker}-* 2>/dev/null; true`]),
          '',
          'a metacharacter reached a shell',
        );
      });

      it('gives the exit code, stdout and stderr, and never throws on a non-zero exit', async () => {
        assert.deepEqual(await shell.run(['sh', '-c', 'echo out; echo err >&2; exit 3']), {
          code: 3,
          stdout: 'out\n',
          stderr: 'err\n',
        });
        assert.deepEqual(await shell.run(['true']), { code: 0, stdout: '', stderr: '' });
        assert.equal((await shell.run(['false'])).code, 1);
      });

      it('gives 127 for a program that does not exist, and 128 + n when signal n ended the program', async () => {
        const missing = await shell.run(['drover-no-such-program']);
        assert.equal(missing.code, 127);
        assert.match(missing.stderr, /drover-no-such-program/);
        assert.equal((await shell.run(['sh', '-c', 'kill -TERM $$'])).code, 128 + os.constants.signals.SIGTERM);
        assert.equal((await shell.run(['sh', '-c', 'kill -KILL $$'])).code, 128 + os.constants.signals.SIGKILL);
      });

      it('writes `input` to stdin and then closes it; without input, stdin is empty', async () => {
        assert.deepEqual(await shell.run(['cat'], { input: 'line one\nline two' }), {
          code: 0,
          stdout: 'line one\nline two',
          stderr: '',
        });
        assert.deepEqual(await shell.run(['cat']), { code: 0, stdout: '', stderr: '' });
        const input = randomBytes(192 * 1024).toString('base64');
        assert.equal((await shell.run(['wc', '-c'], { input })).stdout.trim(), String(input.length));
      });

      it('runs in `cwd`, whatever characters its name holds; a missing cwd is a failed command', async () => {
        const odd = `${await folder('cwd')}/with 'quote' and $(touch x)`;
        await shell.makeDirectory(odd);
        assert.equal((await shell.run(['pwd'], { cwd: odd })).stdout, `${odd}\n`);
        assert.notEqual(
          (await shell.run(['true'], { cwd: `${odd}/does-not-exist` })).code,
          0,
          'a missing cwd does not run the program',
        );
      });

      it('kills a program that outlives `timeoutMs` and gives 137 with the output so far', async () => {
        const started = Date.now();
        const result = await shell.run(['sh', '-c', 'echo started; exec sleep 30'], { timeoutMs: 700 });
        assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
        assert.equal(result.code, 137);
        assert.equal(result.stdout, 'started\n');
      });

      it('refuses an empty argv', async () => {
        await assert.rejects(shell.run([]), RangeError);
      });
    });

    describe('files', { concurrency: true }, () => {
      it('makeDirectory makes the parents, and succeeds when the directory exists', async () => {
        const directory = `${await folder('directories')}/a/b/c`;
        await shell.makeDirectory(directory);
        await shell.makeDirectory(directory);
        assert.equal(await must(['sh', '-c', 'test -d "$1" && echo yes', 'sh', directory]), 'yes\n');
      });

      it('writeFile replaces the whole file, sets the mode exactly, and leaves no temp file', async () => {
        const directory = await folder('write');
        await shell.writeFile(`${directory}/script.sh`, '#!/bin/sh\necho first\n', 0o750);
        await shell.writeFile(`${directory}/script.sh`, '#!/bin/sh\necho second\n', 0o750);
        await shell.writeFile(`${directory}/private.txt`, Buffer.from('secret'), 0o600);
        await shell.writeFile(`${directory}/open.txt`, 'open', 0o644);
        assert.equal(await must([`${directory}/script.sh`]), 'second\n');
        assert.equal(
          await must([
            'stat',
            '-c',
            '%a %n',
            `${directory}/open.txt`,
            `${directory}/private.txt`,
            `${directory}/script.sh`,
          ]),
          `644 ${directory}/open.txt\n600 ${directory}/private.txt\n750 ${directory}/script.sh\n`,
        );
        assert.equal(await must(['ls', '-A', directory]), 'open.txt\nprivate.txt\nscript.sh\n', 'no temp file left');
        await assert.rejects(shell.writeFile(`${directory}/no-such-folder/x.txt`, 'x'));
      });

      it('readFile gives the bytes, or null when the file or its folder does not exist', async () => {
        const directory = await folder('read');
        const content = randomBytes(70_000);
        await shell.writeFile(`${directory}/data.bin`, content);
        assert.ok(content.equals((await shell.readFile(`${directory}/data.bin`))!));
        assert.equal(await shell.readFile(`${directory}/missing.txt`), null);
        assert.equal(await shell.readFile(`${directory}/no-such-folder/missing.txt`), null);
      });

      it('upload and download copy a file byte for byte', async () => {
        const directory = await folder('copy');
        const local = await localFolder();
        const content = randomBytes(1024 * 1024 + 17);
        await fs.writeFile(path.join(local, 'up.bin'), content);
        await shell.upload(path.join(local, 'up.bin'), `${directory}/up.bin`);
        await shell.download(`${directory}/up.bin`, path.join(local, 'down.bin'));
        assert.ok(content.equals(await fs.readFile(path.join(local, 'down.bin'))));
        assert.ok(content.equals((await shell.readFile(`${directory}/up.bin`))!));
      });

      it('readFile and download refuse a symbolic link (out of the folder or in it) and a FIFO, and copy nothing', async () => {
        const directory = await folder('links');
        await shell.writeFile(`${directory}/real.txt`, 'mine');
        await must(['ln', '-s', '/etc/passwd', `${directory}/stdout.txt`]);
        await must(['ln', '-s', 'real.txt', `${directory}/inside.txt`]);
        await must(['mkfifo', `${directory}/pipe.txt`]);
        const local = await localFolder();
        for (const link of ['stdout.txt', 'inside.txt']) {
          await assert.rejects(shell.readFile(`${directory}/${link}`), /symbolic link/);
          await assert.rejects(shell.download(`${directory}/${link}`, path.join(local, link)), /symbolic link/);
        }
        await assert.rejects(shell.readFile(`${directory}/pipe.txt`), /not a regular file/);
        await assert.rejects(
          shell.download(`${directory}/pipe.txt`, path.join(local, 'pipe.txt')),
          /not a regular file/,
        );
        assert.deepEqual(await fs.readdir(local), [], 'nothing was copied');
        assert.equal((await shell.readFile(`${directory}/real.txt`))?.toString(), 'mine');
      });
    });

    describe('glob', { concurrency: true }, () => {
      let directory: string;
      before(async () => {
        directory = await folder('glob');
        const files = [
          'a.txt',
          'b.dat',
          'sub/c.txt',
          'sub/deep/d.txt',
          '.hidden.txt',
          '.cache/e.txt',
          'we ird [1].txt',
        ];
        for (const file of files) {
          await shell.makeDirectory(path.posix.dirname(`${directory}/${file}`));
          await shell.writeFile(`${directory}/${file}`, file);
        }
        await must(['ln', '-s', '/etc', `${directory}/outside`]);
        await must(['ln', '-s', 'a.txt', `${directory}/link.txt`]);
        await must(['mkfifo', `${directory}/pipe.txt`]);
      });

      it('lists the regular files that match, as sorted relative paths; dot files only when a pattern names them', async () => {
        const cases: Array<[string[], string[]]> = [
          [['**'], ['a.txt', 'b.dat', 'sub/c.txt', 'sub/deep/d.txt', 'we ird [1].txt']],
          [['*.txt'], ['a.txt', 'we ird [1].txt']],
          [['**/*.txt'], ['a.txt', 'sub/c.txt', 'sub/deep/d.txt', 'we ird [1].txt']],
          [['sub/**'], ['sub/c.txt', 'sub/deep/d.txt']],
          [['**/*.{txt,dat}'], ['a.txt', 'b.dat', 'sub/c.txt', 'sub/deep/d.txt', 'we ird [1].txt']],
          [['./a.txt'], ['a.txt']],
          [['.*'], ['.hidden.txt']],
          [['.cache/*'], ['.cache/e.txt']],
          [
            ['b.dat', 'a.txt', '*.dat'],
            ['a.txt', 'b.dat'],
          ],
          [
            ['*', '!a.txt'],
            ['b.dat', 'we ird [1].txt'],
          ],
          [['!a.txt'], []],
          [[], []],
        ];
        for (const [patterns, expected] of cases) {
          assert.deepEqual(await shell.glob(directory, patterns), expected, JSON.stringify(patterns));
        }
      });

      it('lists no link (to a file or a folder) and no FIFO, and never leaves the directory', async () => {
        assert.deepEqual(
          await shell.glob(directory, ['link.txt', 'outside/**', 'outside/hostname', 'pipe.txt', '**/passwd']),
          [],
        );
      });

      it('refuses a pattern that is absolute, starts with ~, or has a .. segment', async () => {
        for (const pattern of ['../x', 'sub/../../x', '/etc/*', '~/x']) {
          await assert.rejects(shell.glob(directory, [pattern]), RangeError, pattern);
        }
      });

      it('fails for a directory that does not exist', async () => {
        await assert.rejects(shell.glob(`${directory}/missing`, ['**']));
      });
    });
  });
}
