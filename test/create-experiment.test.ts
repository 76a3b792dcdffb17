/**
 * Creating one experiment through the HTTP API answers what reading it back shows: the
 * 201's body is built from the creating statement (no read after the commit), so it must
 * equal GET /experiments/<id> for a launched experiment, a draft and a clone, and the
 * events must be the ones a creation, a launch and the first ready task write.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestDrover, type TestDrover } from './harness.ts';

let drover: TestDrover;
before(async () => {
  // The API alone: launched experiments stay queued with their first task ready, so the
  // answer can be compared with a later read field by field.
  drover = await startTestDrover({}, ['api']);
});
after(async () => {
  await drover?.stop();
});

async function createAndRead(path: string, body: unknown) {
  const created = await drover.call('POST', path, body);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.equal(created.headers.get('location'), `/api/v1/experiments/${created.body.id}`);
  const read = await drover.call('GET', `/api/v1/experiments/${created.body.id}`);
  assert.equal(read.status, 200);
  assert.deepEqual(created.body, read.body);
  return created.body;
}

describe('creating an experiment', () => {
  it('answers a launched experiment as a read shows it: queued, its DAG, three events', async () => {
    const experiment = await createAndRead('/api/v1/experiments', {
      application: 'pi-monte-carlo',
      resource: 'local',
      name: 'answer check',
      inputs: { samples: 1000, seed: 3 },
    });
    assert.equal(experiment.state, 'queued');
    assert.equal(experiment.owner, 'admin');
    assert.notEqual(experiment.launchedAt, null);
    // The DAG as planned: the first task ready, the others waiting for their predecessor.
    const states = experiment.tasks.map((task: { kind: string; state: string }) => `${task.kind} ${task.state}`);
    assert.deepEqual(states, [
      'env-setup ready',
      'stage-in pending',
      'submit pending',
      'monitor pending',
      'stage-out pending',
    ]);
    const ids = experiment.tasks.map((task: { id: number }) => task.id);
    assert.deepEqual(
      experiment.tasks.map((task: { dependsOn: number[] }) => task.dependsOn),
      [[], [ids[0]], [ids[1]], [ids[2]], [ids[3]]],
    );
    const events = await drover.call('GET', `/api/v1/experiments/${experiment.id}/events`);
    assert.equal(events.status, 200);
    assert.deepEqual(
      events.body.items.map((event: any) => [event.seq, event.entity, event.fromState, event.toState, event.message]),
      [
        [1, 'experiment', null, 'created', 'created by admin'],
        [2, 'experiment', 'created', 'queued', 'launched'],
        [3, 'task', null, 'ready', null],
      ],
    );
    assert.equal(events.body.items[2].entityId, String(ids[0]));
    assert.equal(experiment.lastEventSeq, 3);
  });

  it('answers a draft and a clone with a changed input as reads show them', async () => {
    const draft = await createAndRead('/api/v1/experiments', {
      application: 'pi-monte-carlo',
      resource: 'local',
      inputs: { samples: 1000, seed: 4 },
      launch: false,
    });
    assert.equal(draft.state, 'created');
    assert.deepEqual(draft.tasks, []);
    assert.equal(draft.lastEventSeq, 1);
    const clone = await createAndRead(`/api/v1/experiments/${draft.id}/clone`, { inputs: { seed: 5 } });
    assert.equal(clone.parentId, draft.id);
    assert.deepEqual(clone.changedInputs, ['seed']);
    assert.equal(clone.state, 'queued');
  });

  it("names a file input's uploaded file, and only the owner's own uploads", async () => {
    const upload = await drover.call('POST', '/api/v1/uploads?filename=notes.txt', Buffer.from('a b c\n'));
    assert.equal(upload.status, 201, JSON.stringify(upload.body));
    const counted = await createAndRead('/api/v1/experiments', {
      application: 'word-count',
      resource: 'local',
      inputs: { text: upload.body.id },
    });
    assert.deepEqual(counted.inputFiles, { text: 'notes.txt' });
    // Another user who types the admin's upload id into a text input learns nothing of it.
    const bob = await drover.call('POST', '/api/v1/users', { name: 'bob' });
    assert.equal(bob.status, 201);
    const guess = await drover.call(
      'POST',
      '/api/v1/experiments',
      { application: 'heat-simulation', resource: 'local', launch: false, inputs: { label: upload.body.id } },
      bob.body.token,
    );
    assert.equal(guess.status, 201, JSON.stringify(guess.body));
    const read = await drover.call('GET', `/api/v1/experiments/${guess.body.id}`, undefined, bob.body.token);
    assert.equal(read.body.inputs.label, upload.body.id);
    assert.deepEqual(read.body.inputFiles, {});
    assert.doesNotMatch(JSON.stringify(read.body), /notes\.txt/);
  });
});
