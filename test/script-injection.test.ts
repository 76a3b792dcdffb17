/**
 * Through the HTTP API: no user text can add a line to a job script. A one-line `string`
 * input, an experiment name or a clone override with a line break is a 400 naming the field;
 * a `text` input carries a multi-line value to the program byte for byte; admin-given
 * catalogue fields that scripts carry verbatim are refused when they are registered.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestDrover, waitForState, type TestDrover } from './harness.ts';

let drover: TestDrover;
before(async () => {
  drover = await startTestDrover();
  // Writes every argument it receives, NUL-terminated, as hex: the exact bytes.
  const app = await drover.call('POST', '/api/v1/applications', {
    name: 'notes-dump',
    title: 'Notes dump (test fixture)',
    inputs: [
      { name: 'notes', type: 'text', required: true },
      { name: 'title', type: 'string', default: 'untitled' },
    ],
    outputs: ['argv.hex'],
    deployments: {
      '*': {
        command: [
          'bash',
          '-c',
          'printf "%s\\0" "$@" | od -An -v -tx1 | tr -d " \\n" > argv.hex',
          'drover-argv',
          '{{notes}}',
          '--title={{title}}',
        ],
      },
    },
  });
  assert.equal(app.status, 201, JSON.stringify(app.body));
});
after(async () => {
  await drover?.stop();
});

function assertFieldProblem(
  response: { status: number; headers: Headers; body: any },
  field: string,
  message?: RegExp,
) {
  assert.equal(response.status, 400, JSON.stringify(response.body));
  assert.match(response.headers.get('content-type') ?? '', /^application\/problem\+json/);
  const problem = response.body.errors?.find((error: any) => error.field === field);
  assert.ok(problem, `an error names ${field}: ${JSON.stringify(response.body.errors)}`);
  if (message) assert.match(problem.message, message);
}

const directiveLabel = 'run 1\n#SBATCH --partition=evil\n#PBS -q evil\n#SBATCH --time=99:00:00 #';

describe('user text and job scripts', () => {
  it('refuses a heat-simulation label with a line break and a directive: 400 naming the input, nothing created', async () => {
    const before = (await drover.call('GET', '/api/v1/experiments?limit=200')).body.items.length;
    const response = await drover.call('POST', '/api/v1/experiments', {
      application: 'heat-simulation',
      resource: 'local',
      inputs: { label: directiveLabel },
    });
    assertFieldProblem(response, 'inputs.label', /one line without control characters.*type "text"/);
    for (const label of ['a\rb', 'a\u0085b', 'a\u2028b', 'tab\there', 'esc\x1b[31m']) {
      const other = await drover.call('POST', '/api/v1/experiments', {
        application: 'heat-simulation',
        resource: 'local',
        inputs: { label },
      });
      assertFieldProblem(other, 'inputs.label');
    }
    assert.equal((await drover.call('GET', '/api/v1/experiments?limit=200')).body.items.length, before);
  });

  it('refuses the same label as a clone override, and a multi-line experiment name', async () => {
    const parent = await drover.call('POST', '/api/v1/experiments', {
      application: 'heat-simulation',
      resource: 'local',
      launch: false,
      inputs: { label: '#SBATCH --partition=evil is harmless on one line' },
    });
    assert.equal(parent.status, 201, JSON.stringify(parent.body));
    const script = await drover.call('GET', `/api/v1/experiments/${parent.body.id}/script`);
    assert.equal(script.status, 200);
    assert.ok(
      !script.body.split('\n').some((line: string) => line.startsWith('#SBATCH')),
      'the one-line value stays inside its quotes',
    );
    const clone = await drover.call('POST', `/api/v1/experiments/${parent.body.id}/clone`, {
      inputs: { label: directiveLabel },
    });
    assertFieldProblem(clone, 'inputs.label');
    const named = await drover.call('POST', '/api/v1/experiments', {
      application: 'heat-simulation',
      resource: 'local',
      name: 'ok\n#SBATCH -p evil',
    });
    assertFieldProblem(named, 'name', /control characters/);
  });

  it('refuses upload names with control characters, separators, "." or ".."', async () => {
    for (const name of ['a\nb.txt', 'a\u0085b', 'a\u2028b', 'a\x7fb', '.', '..', 'a/b', 'a\\b']) {
      const response = await drover.call(
        'POST',
        `/api/v1/uploads?filename=${encodeURIComponent(name)}`,
        Buffer.from('x'),
      );
      assertFieldProblem(response, 'filename');
    }
  });

  it('carries a multi-line text input to the program byte for byte, and its script shows no user line', async () => {
    const notes = `line 1\r\n#SBATCH --partition=evil\n#PBS -q evil\n\ttab 'quote' "double" \\ $(touch pwned) {{title}} é 😀\u2028end\n`;
    const title = "#BSUB -q evil {{notes}} it's";
    const created = await drover.call('POST', '/api/v1/experiments', {
      application: 'notes-dump',
      resource: 'local',
      inputs: { notes, title },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const done = await waitForState(drover, created.body.id, ['completed', 'failed']);
    assert.equal(done.state, 'completed', JSON.stringify(done.failure));
    const received = await drover.call('GET', `/api/v1/experiments/${created.body.id}/outputs/argv.hex`);
    assert.equal(received.status, 200);
    assert.equal(received.body, Buffer.from(`${notes}\0--title=${title}\0`, 'utf8').toString('hex'));
    const script: string = (await drover.call('GET', `/api/v1/experiments/${created.body.id}/script`)).body;
    const commandLines = script.split('\n').filter((line) => line.includes('drover-argv'));
    assert.equal(commandLines.length, 1, 'the command is one line');
    assert.ok(!script.split('\n').some((line) => /^(#SBATCH|#PBS|#BSUB|line 1|\t)/.test(line)));
  });

  it('refuses catalogue fields a script would carry verbatim, when they are registered, naming each', async () => {
    const application = await drover.call('POST', '/api/v1/applications', {
      name: 'bad-deployment',
      title: 'Bad deployment',
      inputs: [{ name: 'label', type: 'string', default: 'a\n#SBATCH -p evil' }],
      deployments: {
        local: {
          command: ['true'],
          environmentSetup: [
            'module load gcc',
            'module load x\n#SBATCH --partition=evil',
            '#SBATCH --time=99:00:00',
            '  # comment',
          ],
          queue: 'debug --uid=0',
          account: 'lab\n#SBATCH -p evil',
          memoryMb: 1.5,
        },
      },
    });
    assert.equal(application.status, 400, JSON.stringify(application.body));
    const fields = application.body.errors.map((error: any) => error.field).sort();
    assert.deepEqual(fields, [
      'deployments.local.account',
      'deployments.local.environmentSetup.1',
      'deployments.local.environmentSetup.2',
      'deployments.local.environmentSetup.3',
      'deployments.local.memoryMb',
      'deployments.local.queue',
      'inputs.label.default',
    ]);
    const resource = await drover.call('POST', '/api/v1/resources', {
      name: 'bad-cluster',
      kind: 'slurm',
      config: {
        scratchDir: '/scratch/my gateway',
        queues: [{ name: 'debug\n#SBATCH --partition=evil', maxWalltimeMinutes: 10, maxCores: 1 }],
        ssh: { host: '127.0.0.1', user: 'hpc', privateKeyPath: '/nonexistent', hostKey: 'ssh-ed25519 AAAA' },
      },
    });
    assert.equal(resource.status, 400, JSON.stringify(resource.body));
    assert.deepEqual(resource.body.errors.map((error: any) => error.field).sort(), [
      'config.queues.0.name',
      'config.scratchDir',
    ]);
    assert.equal(
      (await drover.call('GET', '/api/v1/applications/bad-deployment')).status,
      404,
      'nothing was registered',
    );
  });
});
