/**
 * Parameter sweeps (issue 13): one request makes a sweep of experiments over varied inputs
 * (lists, ranges, product or zip); the sweep shows each element's varied inputs, state and
 * headline values; cancel all, clone with changes and resubmit the failed elements act on
 * all of them; other users and gateways see nothing of it; bad specs are refused naming the
 * field. Through the HTTP API and the CLI, with the real controller and worker on `local`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  exitWithApplication,
  localResourceWithLimits,
  runCli,
  sleepForApplication,
  startTestDrover,
  waitFor,
  type TestDrover,
  createUser,
} from './harness.ts';

let drover: TestDrover;
let workDir: string;
let alice: string;
let bob: string;
let otherAdmin: string;

before(async () => {
  drover = await startTestDrover();
  workDir = await mkdtemp(join(tmpdir(), 'drover-sweeps-'));
  for (const application of [exitWithApplication, sleepForApplication]) {
    const created = await drover.call('POST', '/api/v1/applications', application);
    assert.equal(created.status, 201, JSON.stringify(created.body));
  }
  const token = (name: string) => createUser(drover, name);
  alice = await token('alice');
  bob = await token('bob');
  const gateway = await drover.call('POST', '/api/v1/gateways', { id: 'other', name: 'Other', admin: 'other-admin' });
  assert.equal(gateway.status, 201, JSON.stringify(gateway.body));
  otherAdmin = gateway.body.admin.token;
});
after(async () => {
  await drover?.stop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

/** Creates a sweep as `token` (alice unless given); asserts a 201 and returns it. */
async function createSweep(body: Record<string, unknown>, token = alice) {
  const created = await drover.call('POST', '/api/v1/sweeps', body, token);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return created.body;
}

/** Waits until the sweep's counts per state are `counts`; returns the sweep. */
async function untilCounts(id: string, counts: Record<string, number>, token = alice) {
  let last: unknown;
  return waitFor(
    `sweep ${id} to be ${JSON.stringify(counts)}`,
    async () => {
      const sweep = await drover.call('GET', `/api/v1/sweeps/${id}`, undefined, token);
      last = sweep.body.counts;
      return JSON.stringify(sweep.body.counts) === JSON.stringify(counts) ? sweep.body : null;
    },
    60_000,
  ).catch((error: Error) => {
    throw new Error(`${error.message}; last seen: ${JSON.stringify(last)}`);
  });
}

describe('parameter sweeps', () => {
  it('runs the product of a list and a range as experiments and shows each element with its headline values', async () => {
    const sweep = await createSweep({
      application: 'pi-monte-carlo',
      resource: 'local',
      name: 'pi grid',
      vary: { samples: { values: [1000, 4000] }, seed: { range: { from: 1, to: 3, step: 1 } } },
    });
    assert.equal(sweep.elementCount, 6);
    assert.equal(sweep.combine, 'product');
    assert.deepEqual(
      sweep.elements.map((element: { inputs: unknown }) => element.inputs),
      [
        { samples: 1000, seed: 1 },
        { samples: 1000, seed: 2 },
        { samples: 1000, seed: 3 },
        { samples: 4000, seed: 1 },
        { samples: 4000, seed: 2 },
        { samples: 4000, seed: 3 },
      ],
    );
    assert.equal(sweep.elements[4].experiment.name, 'pi grid (samples=4000, seed=2)');
    assert.deepEqual(sweep.elements[4].experiment.sweep, { id: sweep.id, index: 4 });

    const done = await untilCounts(sweep.id, { completed: 6 });
    assert.equal(done.finished, 6);
    for (const element of done.elements) {
      const estimate = element.experiment.headlineValues.find((value: { name: string }) => value.name === 'estimate');
      assert.ok(typeof estimate?.value === 'number' && Math.abs(estimate.value - Math.PI) < 0.5, element.index);
    }
    // Each element is a normal experiment that links to its sweep.
    const experiment = await drover.call(
      'GET',
      `/api/v1/experiments/${done.elements[0].experiment.id}`,
      undefined,
      alice,
    );
    assert.deepEqual(experiment.body.sweep, { id: sweep.id, index: 0 });
    assert.deepEqual(experiment.body.inputs, { samples: 1000, seed: 1 });
    const list = await drover.call('GET', '/api/v1/sweeps', undefined, alice);
    assert.equal(list.status, 200);
    assert.deepEqual(
      list.body.items.map((item: { id: string; counts: unknown }) => [item.id, item.counts]),
      [[sweep.id, { completed: 6 }]],
    );

    // A clone with changes: another list, seed fixed, as drafts.
    const clone = await drover.call(
      'POST',
      `/api/v1/sweeps/${sweep.id}/clone`,
      { vary: { seed: null, samples: { values: [10, 20, 30] } }, inputs: { seed: 9 }, launch: false },
      alice,
    );
    assert.equal(clone.status, 201, JSON.stringify(clone.body));
    assert.equal(clone.body.parentId, sweep.id);
    assert.equal(clone.body.name, 'pi grid (clone)');
    assert.deepEqual(clone.body.inputs, { seed: 9 });
    assert.deepEqual(clone.body.counts, { created: 3 });
    const draft = await drover.call(
      'GET',
      `/api/v1/experiments/${clone.body.elements[2].experiment.id}`,
      undefined,
      alice,
    );
    assert.deepEqual(draft.body.inputs, { samples: 30, seed: 9 });

    // Launch all: the drafts run.
    const launched = await drover.call('POST', `/api/v1/sweeps/${clone.body.id}/launch`, undefined, alice);
    assert.equal(launched.status, 200, JSON.stringify(launched.body));
    assert.equal(launched.body.count, 3);
    await untilCounts(clone.body.id, { completed: 3 });
    const again = await drover.call('POST', `/api/v1/sweeps/${clone.body.id}/launch`, undefined, alice);
    assert.equal(again.body.count, 0, 'nothing is left to launch');
  });

  it('zips values and cancels every running element at once', async () => {
    const sweep = await createSweep({
      application: 'sleep-for',
      resource: 'local',
      vary: { seconds: { values: [600, 601] } },
      combine: 'zip',
    });
    assert.match(sweep.name, /^sleep-for sweep \d{4}-\d\d-\d\d \d\d:\d\d$/);
    await untilCounts(sweep.id, { executing: 2 });
    const canceled = await drover.call('POST', `/api/v1/sweeps/${sweep.id}/cancel`, undefined, alice);
    assert.equal(canceled.status, 202);
    assert.equal(canceled.body.count, 2);
    await untilCounts(sweep.id, { canceled: 2 });
    const again = await drover.call('POST', `/api/v1/sweeps/${sweep.id}/cancel`, undefined, alice);
    assert.equal(again.body.count, 0, 'nothing is left to cancel');
  });

  it('runs its elements under the admission limits like any experiments', async () => {
    const resource = await drover.call(
      'POST',
      '/api/v1/resources',
      localResourceWithLimits('limited', drover.dataDir, { maxJobsPerUser: 1 }),
    );
    assert.equal(resource.status, 201, JSON.stringify(resource.body));
    const sweep = await createSweep({
      application: 'sleep-for',
      resource: 'limited',
      vary: { seconds: { values: [600, 601, 602] } },
    });
    const waiting = await untilCounts(sweep.id, { queued: 2, executing: 1 });
    await waitFor('the waiting elements to show their place', async () => {
      const shown = await drover.call('GET', `/api/v1/sweeps/${sweep.id}`, undefined, alice);
      const places = shown.body.elements.map(
        (element: { experiment: { waiting: { place: number } | null } }) => element.experiment.waiting?.place ?? null,
      );
      return JSON.stringify(places) === JSON.stringify([null, 1, 2]);
    });
    assert.equal(waiting.elements[0].experiment.state, 'executing');
    const canceled = await drover.call('POST', `/api/v1/sweeps/${sweep.id}/cancel`, undefined, alice);
    assert.equal(canceled.body.count, 3);
    await untilCounts(sweep.id, { canceled: 3 });
  });

  it('resubmits only the failed elements, at the same index, keeping the failed ones as history', async () => {
    const sweep = await createSweep({
      application: 'exit-with',
      resource: 'local',
      name: 'exits',
      vary: { code: { values: [0, 3, 0, 4] } },
    });
    const ended = await untilCounts(sweep.id, { completed: 2, failed: 2 });
    const failedIds = [ended.elements[1].experiment.id, ended.elements[3].experiment.id];

    const notOwner = await drover.call('POST', `/api/v1/sweeps/${sweep.id}/resubmit-failed`);
    assert.equal(notOwner.status, 403, 'the new experiments would be the owner’s');
    const resubmitted = await drover.call('POST', `/api/v1/sweeps/${sweep.id}/resubmit-failed`, undefined, alice);
    assert.equal(resubmitted.status, 201, JSON.stringify(resubmitted.body));
    assert.equal(resubmitted.body.count, 2);
    const elements = resubmitted.body.sweep.elements;
    assert.equal(elements.length, 4);
    assert.equal(elements[0].experiment.id, ended.elements[0].experiment.id, 'a completed element is kept');
    for (const [at, index] of [1, 3].entries()) {
      assert.notEqual(elements[index].experiment.id, failedIds[at]);
      assert.equal(elements[index].experiment.parentId, failedIds[at]);
      assert.deepEqual(elements[index].experiment.sweep, { id: sweep.id, index });
      assert.deepEqual(elements[index].previous, [failedIds[at]]);
    }
    const again = await untilCounts(sweep.id, { completed: 2, failed: 2 });
    assert.deepEqual(again.elements[1].inputs, { code: 3 });
    // The failed experiment is still there, as it was.
    const old = await drover.call('GET', `/api/v1/experiments/${failedIds[0]}`, undefined, alice);
    assert.equal(old.body.state, 'failed');
    assert.deepEqual(old.body.sweep, { id: sweep.id, index: 1 });
  });

  it('shows a sweep to its owner and the gateway admins only', async () => {
    const sweep = await createSweep({
      application: 'pi-monte-carlo',
      resource: 'local',
      vary: { seed: { values: [1] } },
      launch: false,
    });
    for (const [who, token] of [
      ['another user', bob],
      ["another gateway's admin", otherAdmin],
    ] as const) {
      for (const [method, path] of [
        ['GET', ''],
        ['POST', '/cancel'],
        ['POST', '/clone'],
        ['POST', '/resubmit-failed'],
      ]) {
        const body = path === '/clone' ? {} : undefined;
        const answer = await drover.call(method, `/api/v1/sweeps/${sweep.id}${path}`, body, token);
        assert.equal(answer.status, 404, `${who}: ${method} ${path}`);
        assert.equal(answer.headers.get('content-type'), 'application/problem+json; charset=utf-8');
      }
      const list = await drover.call('GET', '/api/v1/sweeps', undefined, token);
      assert.ok(!list.body.items.some((item: { id: string }) => item.id === sweep.id), who);
    }
    const element = await drover.call('GET', `/api/v1/experiments/${sweep.elements[0].experiment.id}`, undefined, bob);
    assert.equal(element.status, 404);
    const admin = await drover.call('GET', `/api/v1/sweeps/${sweep.id}`);
    assert.equal(admin.status, 200, 'the gateway admin sees it');
    assert.equal(admin.body.owner, 'alice');
    assert.equal((await drover.call('GET', '/api/v1/sweeps/not-a-uuid', undefined, alice)).status, 404);
  });

  it('refuses bad specs naming the field, and creates nothing', async () => {
    const before = (await drover.call('GET', '/api/v1/sweeps', undefined, bob)).body.items.length;
    const pi = { application: 'pi-monte-carlo', resource: 'local' };
    const cases: Array<[string, Record<string, unknown>, Array<[string, RegExp]>]> = [
      ['nothing varied', { ...pi, vary: {} }, [['vary', /vary at least one input/]]],
      [
        'a backward range',
        { ...pi, vary: { seed: { range: { from: 3, to: 1, step: 1 } } } },
        [['vary.seed.range.to', /must be at least from \(3\)/]],
      ],
      [
        'too many elements',
        { ...pi, vary: { seed: { range: { from: 0, to: 1e9, step: 1 } } } },
        [['vary', /makes 1,000,000,001 elements \(seed: 1000000001\); a sweep has at most 1000/]],
      ],
      [
        'a product too large',
        {
          ...pi,
          vary: {
            seed: { range: { from: 1, to: 100, step: 1 } },
            samples: { values: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11] },
          },
        },
        [['vary', /makes 1,100 elements \(seed: 100 x samples: 11\)/]],
      ],
      [
        'an unknown input',
        { ...pi, vary: { sample: { values: [1] } } },
        [['vary.sample', /has no input sample \(inputs: samples, seed\)/]],
      ],
      [
        'zip of unequal lengths',
        { ...pi, combine: 'zip', vary: { samples: { values: [1, 2, 3] }, seed: { values: [1, 2] } } },
        [['vary.seed', /makes 2 values and samples 3; zip needs the same number from each/]],
      ],
      [
        'values and a range',
        { ...pi, vary: { seed: { values: [1], range: { from: 1, to: 2, step: 1 } } } },
        [['vary.seed', /either values .* or range/]],
      ],
      [
        'a range over a boolean',
        {
          application: 'word-count',
          resource: 'local',
          vary: { ignore_case: { range: { from: 0, to: 1, step: 1 } } },
        },
        [['vary.ignore_case.range', /a range needs a number or integer input; ignore_case is boolean/]],
      ],
      [
        'an input both fixed and varied',
        { ...pi, inputs: { seed: 1 }, vary: { seed: { values: [2] } } },
        [['vary.seed', /also in inputs; give it in one place/]],
      ],
      [
        'bad values, named by element',
        { ...pi, vary: { samples: { values: [10, 0, 'lots'] } } },
        [
          ['elements.1.inputs.samples', /\(element 1: samples=0\)/],
          ['elements.2.inputs.samples', /must be an integer.*\(element 2: samples="lots"\)/],
        ],
      ],
      [
        'a bad shared value, said once',
        { ...pi, resource: 'nowhere', vary: { samples: { values: [10, 20, 30] } } },
        [['resource', /no such resource in this gateway/]],
      ],
      [
        'an unknown application',
        { ...pi, application: 'nope', vary: { samples: { values: [1] } } },
        [['application', /no such application/]],
      ],
    ];
    for (const [what, body, expected] of cases) {
      const answer = await drover.call('POST', '/api/v1/sweeps', body, bob);
      assert.equal(answer.status, 400, `${what}: ${JSON.stringify(answer.body)}`);
      assert.equal(answer.headers.get('content-type'), 'application/problem+json; charset=utf-8');
      const errors: Array<{ field: string; message: string }> = answer.body.errors;
      assert.equal(errors.length, expected.length, `${what}: ${JSON.stringify(errors)}`);
      for (const [index, [field, message]] of expected.entries()) {
        assert.equal(errors[index].field, field, `${what}: ${JSON.stringify(errors)}`);
        assert.match(errors[index].message, message, what);
      }
    }
    const combine = await drover.call(
      'POST',
      '/api/v1/sweeps',
      { ...pi, vary: { seed: { values: [1] } }, combine: 'cross' },
      bob,
    );
    assert.equal(combine.status, 400);
    assert.match(JSON.stringify(combine.body.errors), /combine/);
    assert.equal((await drover.call('GET', '/api/v1/sweeps', undefined, bob)).body.items.length, before);
  });

  it('creates, shows, clones, cancels and resubmits through the CLI', async () => {
    const cli = (args: string[]) => runCli(args, { url: drover.url, workDir, token: alice });
    const created = await cli([
      'sweep',
      'create',
      'pi-monte-carlo',
      '--resource',
      'local',
      '--name',
      'cli sweep',
      '--vary',
      'samples=1000,2000',
      '--vary',
      'seed=range:1:2:1',
      '--zip',
      '--json',
    ]);
    assert.equal(created.code, 0, created.stderr);
    const sweep = JSON.parse(created.stdout);
    assert.deepEqual(
      sweep.elements.map((element: { inputs: unknown }) => element.inputs),
      [
        { samples: 1000, seed: 1 },
        { samples: 2000, seed: 2 },
      ],
    );
    await untilCounts(sweep.id, { completed: 2 });
    const show = await cli(['sweep', 'show', sweep.id]);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /^cli sweep\n/);
    assert.match(show.stdout, /elements +2 \(zip of samples, seed\): completed 2/);
    assert.match(show.stdout, /\n# +SAMPLES +SEED +STATE +ESTIMATE OF PI +ERROR +SAMPLES DRAWN +EXPERIMENT\n/);
    assert.match(show.stdout, /\n0 +1000 +1 +completed +3\.\d+ +[\d.e-]+ +1000 +[0-9a-f-]{36}\n/);
    const ls = await cli(['sweep', 'ls']);
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(
      ls.stdout,
      new RegExp(`\n${sweep.id} +pi-monte-carlo +local +2 +completed 2 +[\\d-]+ [\\d:]+ +cli sweep\n`),
    );

    const cloned = await cli(['sweep', 'clone', sweep.id, '--vary', 'samples=5,6', '--draft']);
    assert.equal(cloned.code, 0, cloned.stderr);
    assert.match(cloned.stdout, /^created sweep [0-9a-f-]{36}: 2 experiments \(zip of samples, seed\)\n/);
    const cloneId = /sweep ([0-9a-f-]{36})/.exec(cloned.stdout)![1];
    const canceled = await cli(['sweep', 'cancel', cloneId]);
    assert.equal(canceled.code, 0, canceled.stderr);
    assert.equal(canceled.stdout, `canceled 2 elements of sweep ${cloneId}\n`);
    // Drafts are canceled at once; none is left to launch.
    assert.deepEqual(JSON.parse((await cli(['sweep', 'show', cloneId, '--json'])).stdout).counts, { canceled: 2 });
    const launched = await cli(['sweep', 'launch', cloneId]);
    assert.equal(launched.code, 0, launched.stderr);
    assert.equal(launched.stdout, `launched 0 elements of sweep ${cloneId}\n`);
    const resubmitted = await cli(['sweep', 'resubmit-failed', sweep.id]);
    assert.equal(resubmitted.code, 0, resubmitted.stderr);
    assert.equal(resubmitted.stdout, `no failed elements in sweep ${sweep.id}\n`);

    const malformed = await cli(['sweep', 'create', 'pi-monte-carlo', '--resource', 'local', '--vary', 'samples']);
    assert.equal(malformed.code, 2);
    assert.match(malformed.stderr, /--vary samples: expected name=v1,v2,... or name=range:from:to:step/);
    const refused = await cli(['sweep', 'create', 'pi-monte-carlo', '--resource', 'local', '--vary', 'samples=0,1']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /elements\.0\.inputs\.samples: must be at least 1 \(element 0: samples=0\)/);
    const missing = await cli(['sweep', 'show', '00000000-0000-0000-0000-000000000000']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /sweep 00000000-0000-0000-0000-000000000000 not found/);
  });
});
