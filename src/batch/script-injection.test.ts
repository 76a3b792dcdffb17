/**
 * Property test: whatever text a user supplies (inputs, template syntax, staged file names,
 * environment values), every job script Drover renders (local, Slurm, PBS) has exactly
 * Drover's lines and directives, no line begins with user text, and the program receives
 * the exact bytes when bash runs the script.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import type { Deployment } from '../domain/application.ts';
import { renderArgv, safeFileName } from '../domain/render-command.ts';
import type { JobSpec } from './port.ts';
import { renderLocalScript } from './local/render-local-script.ts';
import { renderSlurmScript } from './slurm/render-slurm-script.ts';
import { renderPbsScript } from './pbs/render-pbs-script.ts';
import { scriptWord } from '../shell/shell-quote.ts';

/** Payloads per rendering property (each renders the local, Slurm and PBS script of one payload). */
const renderRuns = 300;
/** Payloads run through bash: three scripts each, about 0.1 s a script on a busy shared 2-core machine. */
const bashRuns = 30;

/** Line prefixes that some batch scheduler reads as a directive. */
const directivePrefixes = [
  '#SBATCH',
  '#PBS',
  '#BSUB',
  '#$',
  '#COBALT',
  '#MSUB',
  '#FLUX',
  '#flux:',
  '# @',
  '#DW',
  '#BB',
  '#!',
];

/** Pieces an attacker would combine: line breaks of every kind, directives, quotes, shell and template syntax. */
const hostileFragments = [
  '\n',
  '\r',
  '\r\n',
  '\u0085',
  '\u2028',
  '\u2029',
  '\v',
  '\f',
  '\t',
  '\x1b[31m',
  '\x7f',
  '\x01',
  ...directivePrefixes.flatMap((prefix) => [`${prefix} --partition=evil`, `\n${prefix} -q evil #`, `${prefix}`]),
  '#SBATCH --time=99:00:00',
  '#PBS -l walltime=99:00:00',
  '#SBATCH --output=/tmp/pwned',
  '#PBS -v X=1',
  "'",
  '"',
  '\\',
  "\\'",
  "'\\''",
  '$',
  '`',
  '$(touch pwned)',
  '`touch pwned`',
  '${HOME}',
  "$'\\n'",
  ';',
  '&',
  '|',
  '>',
  '<',
  '*',
  '?',
  '~',
  '!',
  '{{a}}',
  '{{ b }}',
  '{{apps}}',
  '{{f}}',
  '{{',
  '}}',
  '%j',
  '%x',
  ' ',
  '  #',
  '-',
  '--',
  'é',
  '\u{1F600}',
  '\u200e',
  '\ufeff',
  'x',
];

/** Any text but NUL (which no argv element carries; validation refuses it). */
const hostileText = fc
  .array(fc.oneof(fc.constantFrom(...hostileFragments), fc.string({ unit: 'binary', maxLength: 8 })), { maxLength: 8 })
  .map((parts) => parts.join(''))
  .filter((text) => !text.includes('\0'));

/** An upload's name, as the upload route accepts it. */
const hostileFileName = fc
  .oneof(hostileText, fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }))
  .map((name) => safeFileName(name) ?? `upload ${name.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029/\\]/gu, '_')}`)
  .filter((name) => safeFileName(name) !== null);

/** The program: writes each argument (then $DROVER_HOSTILE), NUL-terminated, to argv.bin in its working directory. */
const recorder = 'printf "%s\\0" "$@" "$DROVER_HOSTILE" > argv.bin';

const deployment: Deployment = {
  command: ['/bin/bash', '-c', recorder, 'drover-argv', '{{a}}', '--label={{b}}', '{{c}}{{a}}', '{{f}}', '{{apps}}/x'],
};

interface Payload {
  a: string;
  b: string;
  c: string;
  fileName: string;
  environment: string;
}

function specFor(payload: Payload, workdir: string): JobSpec {
  return {
    submissionKey: 'drover-0123456789abcdef-7-1',
    workdir,
    jobName: 'drover-heat-simulation-01234567',
    queue: 'debug',
    account: 'chem-lab',
    nodes: 1,
    coresPerNode: 2,
    memoryMb: 512,
    walltimeMinutes: 2,
    environmentSetup: ['export OMP_NUM_THREADS=2'],
    argv: renderArgv(
      deployment,
      { a: payload.a, b: payload.b, c: payload.c },
      { f: `inputs/${payload.fileName}` },
      '/opt/apps',
    ),
    environment: { DROVER_EXPERIMENT_ID: '0123', DROVER_HOSTILE: payload.environment },
  };
}

/** What the program must receive: the one-pass substitution of the deployment's command. */
function expectedArguments(payload: Payload): string[] {
  return [
    payload.a,
    `--label=${payload.b}`,
    `${payload.c}${payload.a}`,
    `inputs/${payload.fileName}`,
    '/opt/apps/x',
    payload.environment,
  ];
}

const benign: Payload = { a: 'x', b: 'x', c: 'x', fileName: 'x', environment: 'x' };
const payload = fc.record({
  a: hostileText,
  b: hostileText,
  c: hostileText,
  fileName: hostileFileName,
  environment: hostileText,
});

const renderers = { local: renderLocalScript, slurm: renderSlurmScript, pbs: renderPbsScript };
const fixedWorkdir = '/scratch/gateway/0123-4567';

/** The directives Drover means for `specFor(..., fixedWorkdir)`, per renderer (local has none). */
const expectedDirectives: Record<keyof typeof renderers, string[]> = {
  local: [],
  slurm: [
    '#SBATCH --job-name=drover-0123456789abcdef-7-1',
    '#SBATCH --comment=drover-heat-simulation-01234567',
    `#SBATCH --chdir=${fixedWorkdir}`,
    `#SBATCH --output=${fixedWorkdir}/stdout.txt`,
    `#SBATCH --error=${fixedWorkdir}/stderr.txt`,
    '#SBATCH --partition=debug',
    '#SBATCH --account=chem-lab',
    '#SBATCH --nodes=1',
    '#SBATCH --ntasks-per-node=2',
    '#SBATCH --mem=512M',
    '#SBATCH --time=00:02:00',
  ],
  pbs: [
    '#PBS -N drover-0123456789abcdef-7-1',
    '#PBS -l nodes=1:ppn=2,walltime=00:02:00',
    '#PBS -l mem=512mb',
    '#PBS -q debug',
    '#PBS -A chem-lab',
  ],
};

/** Lines a scheduler could read as a directive: any line that starts, after blanks, with a known prefix. */
function directiveLines(script: string): string[] {
  return script
    .split('\n')
    .filter(
      (line) => directivePrefixes.some((prefix) => line.trimStart().startsWith(prefix)) && !line.startsWith('#!'),
    );
}

/** Drover's text before the first user word, on the two lines that carry user words; null on any other line. */
function userLinePrefix(benignLine: string): string | null {
  if (benignLine.startsWith('export DROVER_HOSTILE=')) return 'export DROVER_HOSTILE=';
  const end = benignLine.indexOf("'drover-argv' ");
  return end === -1 ? null : benignLine.slice(0, end + "'drover-argv' ".length);
}

test('no user text changes a line of any rendered script, or begins one', () => {
  fc.assert(
    fc.property(payload, (hostile) => {
      for (const [kind, render] of Object.entries(renderers)) {
        const hostileLines = render(specFor(hostile, fixedWorkdir)).split('\n');
        const benignLines = render(specFor(benign, fixedWorkdir)).split('\n');
        assert.equal(hostileLines.length, benignLines.length, `${kind}: the user's text changed the number of lines`);
        for (const [index, line] of hostileLines.entries()) {
          assert.doesNotMatch(
            line,
            /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u,
            `${kind}: line ${index + 1} holds a raw control character`,
          );
          const expected = benignLines[index];
          if (line === expected) continue;
          // Only the export of the hostile value and the command line may differ, and only after Drover's own prefix.
          const prefix = userLinePrefix(expected);
          assert.ok(prefix !== null, `${kind}: line ${index + 1} changed: ${JSON.stringify(line)}`);
          assert.ok(
            line.startsWith(prefix!),
            `${kind}: line ${index + 1} does not begin with Drover's text: ${JSON.stringify(line)}`,
          );
        }
      }
    }),
    { numRuns: renderRuns },
  );
});

test("a script's directives are exactly the ones Drover meant", () => {
  fc.assert(
    fc.property(payload, (hostile) => {
      for (const [kind, render] of Object.entries(renderers) as Array<
        [keyof typeof renderers, (spec: JobSpec) => string]
      >) {
        const script = render(specFor(hostile, fixedWorkdir));
        assert.deepEqual(directiveLines(script), expectedDirectives[kind], kind);
        // Every comment line is Drover's: the same as in a script with harmless values.
        const comments = (text: string) => text.split('\n').filter((line) => line.trimStart().startsWith('#'));
        assert.deepEqual(comments(script), comments(render(specFor(benign, fixedWorkdir))), kind);
      }
    }),
    { numRuns: renderRuns },
  );
});

test('bash gives the program the exact bytes, from the local, Slurm and PBS scripts', () => {
  const root = mkdtempSync(join(tmpdir(), 'drover-injection-'));
  let run = 0;
  try {
    fc.assert(
      fc.property(payload, (hostile) => {
        const expected = Buffer.concat(
          expectedArguments(hostile).map((argument) => Buffer.from(`${argument}\0`, 'utf8')),
        );
        for (const [kind, render] of Object.entries(renderers)) {
          const workdir = join(root, `run-${run++}`);
          mkdirSync(join(workdir, '.drover-job'), { recursive: true });
          const scriptPath = join(workdir, 'job.sh');
          writeFileSync(scriptPath, render(specFor(hostile, workdir)));
          const result = spawnSync('bash', [scriptPath], {
            cwd: workdir,
            encoding: 'utf8',
            env: { PATH: process.env.PATH, HOME: workdir },
          });
          const stderr = kind === 'local' ? readFileSync(join(workdir, 'stderr.txt'), 'utf8') : result.stderr;
          assert.equal(result.status, 0, `${kind} script failed: ${stderr}`);
          assert.deepEqual(
            readFileSync(join(workdir, 'argv.bin')),
            expected,
            `${kind}: the program received other bytes`,
          );
          assert.equal(stderr, '', `${kind}: the script wrote to stderr`);
          rmSync(workdir, { recursive: true, force: true });
        }
      }),
      { numRuns: bashRuns },
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('scriptWord: printable text stays single-quoted, control characters become \\xHH escapes', () => {
  assert.equal(scriptWord("it's"), `'it'\\''s'`);
  assert.equal(scriptWord(''), "''");
  assert.equal(scriptWord('#SBATCH --partition=gpu'), "'#SBATCH --partition=gpu'");
  assert.equal(scriptWord('a\n#SBATCH -p gpu'), "$'a\\x0a#SBATCH -p gpu'");
  assert.equal(scriptWord("\\'\r\u0085\u2028"), "$'\\\\\\'\\x0d\\xc2\\x85\\xe2\\x80\\xa8'");
  assert.throws(() => scriptWord('a\0b'), RangeError);
  assert.throws(() => scriptWord('a\ud800'), RangeError);
});
