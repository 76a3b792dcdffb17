/**
 * Drover on PostgreSQL with the RabbitMQ queue (dispatch.adapter rabbitmq): `drover api`,
 * `drover worker` and `drover controller` as separate processes, queues of their own on the
 * broker of scripts/start-rabbitmq.sh. An experiment runs through the API to completion; a
 * worker SIGKILLed in the middle of a task leaves its message unacked, the broker delivers
 * it to another worker, which takes the task over at once (the lease is a minute here, so
 * lease recovery cannot be what saves it), and the task completes once, its job run once.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { eventsOf, waitForState } from './harness.ts';
import { startDroverService, type DroverService } from './service.ts';
import { deleteQueues, queueDepths, uniqueQueuePrefix } from './rabbitmq.ts';

const prefix = uniqueQueuePrefix();
let service: DroverService;
before(async () => {
  service = await startDroverService({
    DROVER_DISPATCH: 'rabbitmq',
    DROVER_RABBITMQ_QUEUE_PREFIX: prefix,
    DROVER_LEASE_MS: '60000',
  });
  await service.startRole('controller');
});
after(async () => {
  await service?.stop();
  await deleteQueues(prefix).catch(() => {});
});

describe('Drover on the RabbitMQ queue, roles as separate processes', () => {
  it('runs an experiment to completion through the API', async () => {
    const worker = await service.startRole('worker');
    const created = await service.call('POST', '/api/v1/experiments', {
      application: 'pi-monte-carlo',
      resource: 'local',
      inputs: { samples: 20000 },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const done = await waitForState(service, created.body.id, ['completed', 'failed', 'canceled'], 60_000);
    assert.equal(done.state, 'completed', JSON.stringify(done.failure));
    assert.ok(
      done.tasks.every((task: any) => task.state === 'completed' && task.attempt === 1),
      JSON.stringify(done.tasks),
    );
    const { seqs } = await eventsOf(service, created.body.id);
    assert.deepEqual(
      seqs,
      seqs.map((_, index) => index + 1),
    );
    const [outbox] = await service.query<{ n: number }>('select count(*)::int as n from dispatch_outbox');
    assert.equal(outbox!.n, 0, 'every outbox row was published');
    worker.child.kill('SIGTERM');
    await new Promise((resolve) => worker.child.once('exit', resolve));
  });

  it('survives a worker SIGKILLed mid-task: the message comes back, the task completes once', async () => {
    const app = await service.call('POST', '/api/v1/applications', {
      name: 'marked-job',
      title: 'Appends its experiment id to a marker file (test fixture)',
      inputs: [{ name: 'marker', type: 'string', required: true }],
      outputs: [],
      deployments: { '*': { command: ['bash', '-c', 'echo "$DROVER_EXPERIMENT_ID" >> "$1"', '--', '{{marker}}'] } },
    });
    assert.equal(app.status, 201, JSON.stringify(app.body));
    const marker = join(service.dataDir, 'rabbitmq-starts.log');
    // This worker SIGKILLs itself inside the submit task, after the job started and before Drover recorded it.
    const doomed = await service.startRole('worker', { env: { DROVER_FAULT_KILL_AFTER_SUBMIT: '1' } });
    const exited = new Promise<string | null>((resolve) =>
      doomed.child.once('exit', (_code, signal) => resolve(signal)),
    );
    const created = await service.call('POST', '/api/v1/experiments', {
      application: 'marked-job',
      resource: 'local',
      inputs: { marker },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.id;
    assert.equal(await exited, 'SIGKILL', 'the worker died in the middle of the submit task');

    await service.startRole('worker');
    const done = await waitForState(service, id, ['completed', 'failed', 'canceled'], 60_000);
    assert.equal(done.state, 'completed', JSON.stringify({ failure: done.failure, tasks: done.tasks }));
    const submit = done.tasks.find((task: any) => task.kind === 'submit');
    assert.equal(submit.state, 'completed');
    assert.equal(submit.attempt, 2, 'the second attempt, on the other worker');
    const { items, seqs } = await eventsOf(service, id);
    assert.deepEqual(
      seqs,
      seqs.map((_, index) => index + 1),
    );
    const submitEvents = items.filter((event: any) => event.entity === 'task' && event.entityId === String(submit.id));
    assert.deepEqual(
      submitEvents.map((event: any) => `${event.fromState} -> ${event.toState}`),
      ['pending -> ready', 'ready -> running', 'running -> ready', 'ready -> running', 'running -> completed'],
    );
    // Back long before the lease of a minute ran out. Its message came back at once, but the
    // dead worker's heartbeat was still fresh, so it was not taken over then (a broker restart
    // looks the same, with every worker alive): the controller found the worker lost.
    assert.match(submitEvents[2].message, /stopped heartbeating|lost its connection to the queue/);
    const starts = (await readFile(marker, 'utf8')).trim().split('\n');
    assert.deepEqual(starts, [id], 'the job ran once');
    const depths = await queueDepths(prefix);
    assert.equal(depths.dead, 0, 'nothing was dead-lettered');
  });
});
