/**
 * Results on the page (issue 12, section 2), through the HTTP API and the CLI: headline
 * values read from a JSON output after stage-out, outputs served for previews (their media
 * type, the first bytes, headers that run nothing), and the partial outputs of a job
 * killed by a cancel or by its walltime.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adminToken, eventsOf, runCli, startTestDrover, waitFor, waitForState, type TestDrover } from './harness.ts';

/** A 1x1 PNG. */
const pixelPng = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';

/**
 * A test fixture application: writes outputs of every kind a preview meets, hostile ones
 * included (SVG and HTML with script, JSON that is not JSON, a JSON output over the
 * headline limit), and declares headline values into them.
 */
const outputKinds = {
  name: 'output-kinds',
  title: 'Outputs of every kind (test fixture)',
  outputs: ['*.json', '*.csv', '*.svg', '*.html', '*.png', 'notes.txt'],
  headlineValues: [
    { name: 'energy', label: 'Energy', unit: 'J', file: 'result.json', path: 'energy' },
    { name: 'first', label: 'First sample', file: 'result.json', path: 'samples.0' },
    { name: 'converged', label: 'Converged', file: 'result.json', path: 'converged' },
    { name: 'long', label: 'Long text', file: 'result.json', path: 'long' },
    { name: 'object', label: 'An object', file: 'result.json', path: 'nested' },
    { name: 'missing', label: 'Missing', file: 'result.json', path: 'no.such.key' },
    { name: 'prototype', label: 'Prototype', file: 'result.json', path: '__proto__.polluted' },
    { name: 'broken', label: 'Broken file', file: 'broken.json', path: 'a' },
    { name: 'huge', label: 'Huge file', file: 'huge.json', path: 'a' },
  ],
  deployments: {
    '*': {
      command: [
        'node',
        '-e',
        `const fs = require('fs');
fs.writeFileSync('result.json', JSON.stringify({ energy: -12.5, samples: [3, 4], converged: true,
  long: 'x'.repeat(500), nested: { a: 1 } }));
fs.writeFileSync('broken.json', '{"a": 1');
fs.writeFileSync('huge.json', JSON.stringify({ a: 1, pad: 'y'.repeat(1100000) }));
fs.writeFileSync('table.csv', 'x,y\\n0,1\\n1,4\\n');
fs.writeFileSync('drawing.svg', '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>');
fs.writeFileSync('page.html', '<script>alert(1)</script>');
fs.writeFileSync('pixel.png', Buffer.from(process.argv[1], 'base64'));
fs.writeFileSync('notes.txt', 'héllo\\n'.repeat(1000));`,
        pixelPng,
      ],
    },
  },
};

let drover: TestDrover;
let workDir: string;
before(async () => {
  drover = await startTestDrover();
  workDir = await mkdtemp(join(tmpdir(), 'drover-results-'));
  const app = await drover.call('POST', '/api/v1/applications', outputKinds);
  assert.equal(app.status, 201, JSON.stringify(app.body));
});
after(async () => {
  await drover?.stop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

const cli = (args: string[]) => runCli(args, { url: drover.url, workDir });

/** The headline values of an experiment as name -> value. */
const valuesOf = (experiment: any) =>
  Object.fromEntries(experiment.headlineValues.map((headline: any) => [headline.name, headline.value]));

describe('headline values', () => {
  let heatId: string;

  it("are read from heat-simulation's result.json after stage-out and served with the experiment", async () => {
    const created = await drover.call('POST', '/api/v1/experiments', {
      application: 'heat-simulation',
      resource: 'local',
      name: 'headline run',
      inputs: { duration_seconds: 0.5, steps: 5, grid_points: 11 },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual(created.body.headlineValues, [], 'none before the run');
    heatId = created.body.id;
    const done = await waitForState(drover, heatId, ['completed', 'failed', 'canceled']);
    assert.equal(done.state, 'completed', JSON.stringify(done.failure));
    const result = (await drover.call('GET', `/api/v1/experiments/${heatId}/outputs/result.json`)).body;
    assert.deepEqual(
      done.headlineValues.map((headline: any) => [headline.name, headline.label, headline.unit]),
      [
        ['final_max', 'Final maximum', null],
        ['final_mean', 'Final mean', null],
        ['steps_completed', 'Steps completed', null],
        ['wall_time', 'Wall time', 's'],
        ['status', 'Status', null],
      ],
    );
    assert.deepEqual(valuesOf(done), {
      final_max: result.final.max,
      final_mean: result.final.mean,
      steps_completed: 5,
      wall_time: result.wallTimeSeconds,
      status: 'completed',
    });
    const list = await drover.call('GET', '/api/v1/experiments?application=heat-simulation');
    const listed = list.body.items.find((item: any) => item.id === heatId);
    assert.deepEqual(listed.headlineValues, done.headlineValues, 'the list carries them too');
  });

  it('drover show prints them; drover ls --app makes them columns', async () => {
    const show = await cli(['show', heatId]);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /^ {2}results\n {4}Final maximum {4}\d/m);
    assert.match(show.stdout, /^ {4}Steps completed {2}5$/m);
    assert.match(show.stdout, /^ {4}Wall time {8}[\d.]+ s$/m);
    const ls = await cli(['ls', '--app', 'heat-simulation']);
    assert.equal(ls.code, 0, ls.stderr);
    const [header, ...rows] = ls.stdout.trimEnd().split('\n');
    assert.match(
      header,
      /^ID +STATE +APPLICATION +RESOURCE +CREATED +FINAL MAXIMUM +FINAL MEAN +STEPS COMPLETED +WALL TIME \(S\) +STATUS +NAME$/,
    );
    const row = rows.find((line) => line.startsWith(heatId));
    assert.match(row ?? '', / 5 +[\d.]+ +completed +headline run$/);
    const unfiltered = await cli(['ls']);
    assert.doesNotMatch(unfiltered.stdout.split('\n')[0], /FINAL/, 'no columns across applications');
  });

  it('take only scalars, cut long text, and give null for a missing path, a broken or oversized file', async () => {
    const created = await drover.call('POST', '/api/v1/experiments', {
      application: 'output-kinds',
      resource: 'local',
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const done = await waitForState(drover, created.body.id, ['completed', 'failed']);
    assert.equal(done.state, 'completed', JSON.stringify(done.failure));
    assert.deepEqual(valuesOf(done), {
      energy: -12.5,
      first: 3,
      converged: true,
      long: 'x'.repeat(200),
      object: null,
      missing: null,
      prototype: null,
      broken: null,
      huge: null,
    });
  });

  it('are checked when an application is registered, each problem named', async () => {
    const response = await drover.call('POST', '/api/v1/applications', {
      ...outputKinds,
      name: 'bad-headlines',
      headlineValues: [
        { name: 'a', label: 'A', file: 'elsewhere.dat', path: 'a' },
        { name: 'a', label: 'Two\nlines', file: 'result.json', path: 'a..b' },
        { name: 'c', label: 'C', file: '../result.json', path: 'c' },
      ],
    });
    assert.equal(response.status, 400, JSON.stringify(response.body));
    const fields = response.body.errors.map((error: any) => error.field).sort();
    assert.deepEqual(fields, [
      'headlineValues.0.file',
      'headlineValues.1.label',
      'headlineValues.1.name',
      'headlineValues.1.path',
      'headlineValues.2.file',
    ]);
    assert.match(
      response.body.errors.find((error: any) => error.field === 'headlineValues.0.file').message,
      /no pattern of outputs .* brings elsewhere\.dat back/,
    );
  });
});

describe('outputs served for previews', () => {
  let id: string;
  before(async () => {
    const created = await drover.call('POST', '/api/v1/experiments', {
      application: 'output-kinds',
      resource: 'local',
    });
    id = created.body.id;
    const done = await waitForState(drover, id, ['completed', 'failed']);
    assert.equal(done.state, 'completed', JSON.stringify(done.failure));
  });

  it('lists each output with the media type it is served as: SVG and HTML never as their own', async () => {
    const { items } = (await drover.call('GET', `/api/v1/experiments/${id}/outputs`)).body;
    const types = Object.fromEntries(items.map((item: any) => [item.path, item.mediaType]));
    assert.deepEqual(types, {
      'broken.json': 'application/json',
      'drawing.svg': 'application/octet-stream',
      'huge.json': 'application/json',
      'notes.txt': 'text/plain',
      'page.html': 'application/octet-stream',
      'pixel.png': 'image/png',
      'result.json': 'application/json',
      'stderr.txt': 'text/plain',
      'stdout.txt': 'text/plain',
      'table.csv': 'text/csv',
    });
  });

  it('serves each with its type, as an attachment, unsniffed, under a policy that runs nothing', async () => {
    for (const [path, type] of [
      ['pixel.png', 'image/png'],
      ['table.csv', 'text/csv; charset=utf-8'],
      ['result.json', 'application/json'],
      ['drawing.svg', 'application/octet-stream'],
      ['page.html', 'application/octet-stream'],
    ]) {
      const response = await fetch(`${drover.url}/api/v1/experiments/${id}/outputs/${path}`, {
        headers: { authorization: `Bearer ${adminToken}` },
      });
      assert.equal(response.status, 200, path);
      assert.equal(response.headers.get('content-type'), type, path);
      assert.match(response.headers.get('content-disposition') ?? '', /^attachment; /, path);
      assert.equal(response.headers.get('x-content-type-options'), 'nosniff', path);
      assert.equal(response.headers.get('content-security-policy'), "default-src 'none'; sandbox", path);
      await response.arrayBuffer();
    }
  });

  it('answers the first bytes only with ?bytes=, the listing saying how large the file is', async () => {
    const whole = await drover.call('GET', `/api/v1/experiments/${id}/outputs/notes.txt`);
    assert.equal(whole.body, 'héllo\n'.repeat(1000));
    const head = await drover.call('GET', `/api/v1/experiments/${id}/outputs/notes.txt?bytes=14`);
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), '14');
    assert.equal(head.body, 'héllo\nhéllo\n');
    const more = await drover.call('GET', `/api/v1/experiments/${id}/outputs/table.csv?bytes=1000000`);
    assert.equal(more.body, 'x,y\n0,1\n1,4\n', 'a limit past the end gives the whole file');
    const bad = await drover.call('GET', `/api/v1/experiments/${id}/outputs/notes.txt?bytes=0`);
    assert.equal(bad.status, 400, JSON.stringify(bad.body));
    assert.equal(bad.body.errors[0].field, 'querystring.bytes');
  });
});

describe('partial outputs of a killed job', () => {
  it('a cancel kills the job, then stage-out brings back what it wrote; the experiment ends canceled', async () => {
    const created = await drover.call('POST', '/api/v1/experiments', {
      application: 'heat-simulation',
      resource: 'local',
      inputs: { duration_seconds: 600, steps: 600 },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.id;
    // Running, and past its first step: the program has something to write.
    await waitFor('the simulation to print its first step', async () => {
      const log = await drover.call('GET', `/api/v1/experiments/${id}/logs/stdout`);
      return log.status === 200 && /^step 1\//m.test(log.body);
    });
    const canceled = await drover.call('POST', `/api/v1/experiments/${id}/cancel`);
    assert.equal(canceled.status, 202, JSON.stringify(canceled.body));
    const done = await waitForState(drover, id, ['canceled', 'completed', 'failed']);
    assert.equal(done.state, 'canceled');
    assert.equal(done.job.state, 'canceled');
    assert.deepEqual(
      done.tasks.map((task: any) => [task.kind, task.state]),
      [
        ['env-setup', 'completed'],
        ['stage-in', 'completed'],
        ['submit', 'completed'],
        ['monitor', 'completed'],
        ['stage-out', 'completed'],
      ],
    );
    const outputs = (await drover.call('GET', `/api/v1/experiments/${id}/outputs`)).body.items;
    assert.deepEqual(
      outputs.map((file: any) => file.path),
      ['profile.csv', 'result.json', 'stderr.txt', 'stdout.txt'],
    );
    const result = (await drover.call('GET', `/api/v1/experiments/${id}/outputs/result.json`)).body;
    assert.equal(result.status, 'interrupted by SIGTERM');
    assert.ok(result.stepsCompleted >= 1 && result.stepsCompleted < 600, String(result.stepsCompleted));
    assert.equal(valuesOf(done).status, 'interrupted by SIGTERM', 'headline values of the partial result');
    const stderr = (await drover.call('GET', `/api/v1/experiments/${id}/outputs/stderr.txt`)).body;
    assert.match(stderr, /stopped by SIGTERM at step \d+\/600; partial results written/);
    const { moves } = await eventsOf(drover, id);
    assert.equal(moves.at(-1), 'experiment canceling->canceled');
    assert.ok(
      moves.indexOf('task stage-out running->completed') < moves.indexOf('experiment canceling->canceled'),
      'stage-out ran before the experiment ended',
    );
  });

  it('a walltime kill also brings back the partial outputs; the experiment fails as timed out', async () => {
    const created = await drover.call('POST', '/api/v1/experiments', {
      application: 'heat-simulation',
      resource: 'local',
      // 3 s of walltime for a 60 s run
      walltimeMinutes: 0.05,
      inputs: { duration_seconds: 60, steps: 60 },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const done = await waitForState(drover, created.body.id, ['canceled', 'completed', 'failed']);
    assert.equal(done.state, 'failed');
    assert.equal(done.failure.code, 'job-timed-out');
    assert.equal(done.job.state, 'timed-out');
    const result = (await drover.call('GET', `/api/v1/experiments/${created.body.id}/outputs/result.json`)).body;
    assert.equal(result.status, 'interrupted by SIGTERM');
    assert.equal(valuesOf(done).status, 'interrupted by SIGTERM');
    assert.ok(valuesOf(done).steps_completed < 60);
  });
});
