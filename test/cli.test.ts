/**
 * The CLI as a subprocess against a real API: every user command, with and without
 * --json, exit codes, and error messages that say how to fix the problem.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { droverBin } from './drover-bin.ts';
import {
  adminToken,
  exitWithApplication,
  processesInSession,
  projectRoot,
  runCli,
  startTestDrover,
  waitFor,
  type CliRun,
  type TestDrover,
} from './harness.ts';

let drover: TestDrover;
let workDir: string;
before(async () => {
  drover = await startTestDrover();
  workDir = await mkdtemp(join(tmpdir(), 'drover-cli-'));
});
after(async () => {
  await drover?.stop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

/** Runs `drover ...args` as a child process (or `bash ...args`, for pipes and copied commands). */
function drover_(args: string[], environment: Record<string, string> = {}, program?: 'bash'): Promise<CliRun> {
  return runCli(args, { url: drover.url, workDir, environment, program });
}

const json = (run: CliRun) => {
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout);
};

describe('the drover CLI', () => {
  let piId: string;

  it('lists applications and resources', async () => {
    const apps = await drover_(['apps']);
    assert.equal(apps.code, 0, apps.stderr);
    assert.match(apps.stdout, /^NAME\s+VERSION\s+TITLE\s+INPUTS/m);
    // `*` marks what must be given: a required input with a default is filled in when left out.
    assert.match(apps.stdout, /pi-monte-carlo .* samples:integer /);
    assert.match(apps.stdout, /word-count .* text:file\* /);
    assert.deepEqual(
      json(await drover_(['apps', '--json']))
        .items.map((app: any) => app.name)
        .sort(),
      ['heat-simulation', 'pi-monte-carlo', 'word-count'],
    );
    const resources = await drover_(['resources']);
    assert.match(resources.stdout, /local\s+local\s+-\s+normal\s+1440\s+4/);
    assert.equal(json(await drover_(['resources', '--json'])).items[0].kind, 'local');
  });

  it('submits and watches an experiment to completion (exit code 0)', async () => {
    const run = await drover_([
      'submit',
      'pi-monte-carlo',
      '-i',
      'samples=200000',
      '-i',
      'seed=3',
      '--name',
      'cli pi',
      '--watch',
    ]);
    assert.equal(run.code, 0, run.stderr);
    const [firstLine] = run.stdout.split('\n');
    piId = firstLine.split(/\s+/)[0];
    assert.match(piId, /^[0-9a-f-]{36}$/);
    assert.match(run.stdout, /task submit\s+ready -> running/);
    assert.match(run.stdout, /experiment\s+executing -> completed/);
  });

  it('shows, lists, prints logs and downloads outputs', async () => {
    const show = await drover_(['show', piId]);
    assert.match(show.stdout, /state\s+completed/);
    assert.match(show.stdout, /samples = 200000/);
    assert.match(show.stdout, /job\s+\d+ completed, scheduler says exited, exit code 0/);
    const shown = json(await drover_(['show', piId, '--json']));
    assert.equal(shown.inputs.seed, 3);
    // Submitted when the submit was sent, so never after the job started (which the job
    // records to the second).
    const second = (time: string) => Math.floor(new Date(time).getTime() / 1000);
    assert.ok(second(shown.job.submittedAt) <= second(shown.job.startedAt), JSON.stringify(shown.job));
    const list = json(await drover_(['ls', '--state', 'completed', '--app', 'pi-monte-carlo', '--json']));
    assert.ok(list.items.some((item: any) => item.id === piId));
    const table = await drover_(['ls', '--search', 'cli pi']);
    assert.match(table.stdout, new RegExp(`${piId}\\s+completed\\s+pi-monte-carlo\\s+local`));
    const logs = await drover_(['logs', piId]);
    assert.equal(logs.code, 0, logs.stderr);
    assert.ok(logs.stdout.length > 0);
    const download = await drover_(['outputs', piId, '--download', 'out']);
    assert.equal(download.code, 0, download.stderr);
    const result = JSON.parse(await readFile(join(workDir, 'out', 'result.json'), 'utf8'));
    assert.equal(result.samples, 200000);
  });

  it('ends the event stream once the experiment has ended, so a client is not left waiting', async () => {
    const response = await fetch(`${drover.url}/api/v1/experiments/${piId}/events`, {
      headers: { accept: 'text/event-stream', authorization: `Bearer ${adminToken}` },
      signal: AbortSignal.timeout(20_000),
    });
    // The whole body arrives: the server closed the stream after the last event.
    const text = await response.text();
    assert.match(text, /event: experiment\n(.*\n)*data: .*"toState":"completed"/);
    assert.match(text, /event: end\ndata: \{"state":"completed","lastEventId":\d+\}\n\n$/);
  });

  it('pages a listing with the same filters, and stops quietly when the reader goes away', async () => {
    for (const seed of [11, 12])
      json(
        await drover_(['submit', 'pi-monte-carlo', '-i', 'samples=1000', '-i', `seed=${seed}`, '--draft', '--json']),
      );
    const first = await drover_(['ls', '--state', 'created', '--app', 'pi-monte-carlo', '--limit', '1']);
    assert.equal(first.code, 0, first.stderr);
    const more = /^more: (drover ls --state created --app pi-monte-carlo --limit 1 --cursor \S+)$/m.exec(first.stdout);
    assert.ok(more, first.stdout);
    // The hint is a command to copy: run it as a shell would.
    const next = await drover_(
      ['-c', more[1].replace(/^drover /, `"${process.execPath}" "${droverBin}" `)],
      {},
      'bash',
    );
    assert.equal(next.code, 0, next.stderr);
    const rows = (run: CliRun) => run.stdout.split('\n').filter((line) => /^[0-9a-f-]{36}\s+created/.test(line));
    assert.equal(rows(first).length, 1);
    assert.equal(rows(next).length, 1);
    assert.notEqual(rows(first)[0], rows(next)[0]);
    // `drover ls | true`: the pipe's reader is gone before drover writes. No stack trace, exit 0.
    const piped = await drover_(['-c', `set -o pipefail; "${process.execPath}" "${droverBin}" ls | true`], {}, 'bash');
    assert.equal(piped.stderr, '');
    assert.equal(piped.code, 0);
  });

  it('uploads a file input with name=@path', async () => {
    await writeFile(join(workDir, 'poem.txt'), 'one two two\nthree three three\n');
    const run = await drover_(['submit', 'word-count', '-i', 'text=@poem.txt', '--watch', '--json']);
    assert.equal(run.code, 0, run.stderr);
    // --json --watch is NDJSON: the experiment, then one event per line.
    const [experiment, ...events] = run.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    const id = experiment.id;
    assert.equal(experiment.state, 'queued');
    assert.ok(events.length > 0 && events.every((event) => event.experimentId === id && event.seq > 0));
    const download = await drover_(['outputs', id, '--download', 'wc']);
    assert.equal(download.code, 0, download.stderr);
    const counts = JSON.parse(await readFile(join(workDir, 'wc', 'counts.json'), 'utf8'));
    assert.equal(counts.words, 6);
    // The file input by the name of the file uploaded for it.
    assert.match((await drover_(['show', id])).stdout, /text = "poem\.txt" \(upload [0-9a-f-]{36}\)/);
    assert.deepEqual(json(await drover_(['show', id, '--json'])).inputFiles, { text: 'poem.txt' });
  });

  it("follows the program's own progress: watch prints it, ls and show tell how far it is", async () => {
    const submitted = json(
      await drover_(['submit', 'heat-simulation', '-i', 'duration_seconds=5', '-i', 'steps=10', '--json']),
    );
    const running = await waitFor('progress part way', async () => {
      const experiment = (await drover.call('GET', `/api/v1/experiments/${submitted.id}`)).body;
      return experiment.job?.state === 'running' && experiment.progress?.fraction < 1 ? experiment : null;
    });
    const listed = await drover_(['ls', '--app', 'heat-simulation', '--state', 'executing']);
    assert.match(listed.stdout, new RegExp(`${submitted.id}\\s+executing \\d+%\\s+heat-simulation`), listed.stdout);
    assert.ok(running.progress.fraction >= 0);

    // Not a terminal: a line each time the percentage changes, the last one at the end.
    const watched = await drover_(['watch', submitted.id]);
    assert.equal(watched.code, 0, watched.stderr);
    const lines = watched.stdout.split('\n').filter((line) => line.startsWith('progress '));
    assert.ok(lines.length >= 1, watched.stdout);
    assert.match(lines.at(-1)!, /^progress 100% \(10 of 10\), t=1, max=[\d.]+, mean=[\d.]+$/);
    assert.doesNotMatch(watched.stdout, /\u001b/, 'no terminal codes in a pipe');

    const shown = await drover_(['show', submitted.id]);
    assert.match(shown.stdout, /progress\s+100% \(10 of 10\), ran \d+ s, t=1, max=/);
    const events = (await drover_(['watch', submitted.id, '--json'])).stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    assert.ok(
      events.every((event) => event.seq > 0 || event.progress),
      'NDJSON: events and progress only',
    );
  });

  it('clones with a changed input and reports the difference', async () => {
    const run = await drover_(['clone', piId, '-i', 'samples=5000', '--watch']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout.split('\n')[0], /\(changed: samples\)$/);
  });

  it('exits 3 when the watched experiment fails', async () => {
    const fixture = await drover.call('POST', '/api/v1/applications', exitWithApplication);
    assert.equal(fixture.status, 201, JSON.stringify(fixture.body));
    const run = await drover_(['submit', 'exit-with', '-i', 'code=7', '--watch']);
    assert.equal(run.code, 3, run.stderr);
    assert.match(run.stdout, /experiment\s+executing -> failed/);
    const id = run.stdout.split(/\s+/)[0];
    assert.equal((await drover_(['watch', id])).code, 3);
  });

  it('previews a draft script and launches it', async () => {
    const draft = json(
      await drover_([
        'submit',
        'heat-simulation',
        '-i',
        'label=a b',
        '-i',
        'duration_seconds=0.5',
        '--draft',
        '--json',
      ]),
    );
    assert.equal(draft.state, 'created');
    const script = await drover_(['script', draft.id]);
    assert.match(script.stdout, /'--label' 'a b'/);
    const launched = await drover_(['launch', draft.id]);
    assert.match(launched.stdout, /queued|executing/);
    const watched = await drover_(['watch', draft.id]);
    assert.equal(watched.code, 0, watched.stderr);
  });

  it('cancels a running experiment and waits for it (watch exits 4 for canceled)', async () => {
    const submitted = json(await drover_(['submit', 'heat-simulation', '-i', 'duration_seconds=600', '--json']));
    const running = await waitFor('the job to run', async () => {
      const experiment = (await drover.call('GET', `/api/v1/experiments/${submitted.id}`)).body;
      return experiment.job?.state === 'running' ? experiment : null;
    });
    const cancel = await drover_(['cancel', submitted.id, '--wait']);
    assert.equal(cancel.code, 0, cancel.stderr);
    assert.match(cancel.stdout, /canceling -> canceled/);
    assert.deepEqual(await processesInSession(running.job.details.pid), []);
    const watched = await drover_(['watch', submitted.id]);
    assert.equal(watched.code, 4);
  });

  it('prints each bad input with its field and exits 1', async () => {
    const run = await drover_(['submit', 'pi-monte-carlo', '-i', 'samples=lots', '-i', 'colour=red']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /drover: invalid experiment/);
    assert.match(run.stderr, /inputs\.samples: must be an integer, got "lots"/);
    assert.match(run.stderr, /inputs\.colour: unknown input/);
    // A mistake on the command line is exit code 2, never the code of an experiment's end.
    const malformed = await drover_(['submit', 'pi-monte-carlo', '-i', 'samples']);
    assert.equal(malformed.code, 2);
    assert.match(malformed.stderr, /write inputs as -i name=value/);
    const missingFile = await drover_(['submit', 'word-count', '-i', 'text=@/no/such/file.txt', '--watch']);
    assert.equal(missingFile.code, 2);
    assert.match(missingFile.stderr, /cannot read \/no\/such\/file\.txt/);
    const unknownFlag = await drover_(['ls', '--colour', 'red']);
    assert.equal(unknownFlag.code, 2);
    assert.match(unknownFlag.stderr, /unknown option '--colour'/);
  });

  it('says how to connect when no API is configured or reachable', async () => {
    // No API to reach is exit code 5: a script may try again later.
    const none = await drover_(['ls'], { DROVER_URL: '', DROVER_TOKEN: '', DROVER_DATA_DIR: join(workDir, 'empty') });
    assert.equal(none.code, 5);
    assert.match(none.stderr, /no Drover API to talk to/);
    assert.match(none.stderr, /drover up/);
    const unreachable = await drover_(['ls'], { DROVER_URL: 'http://127.0.0.1:9' });
    assert.equal(unreachable.code, 5);
    assert.match(unreachable.stderr, /cannot reach the Drover API at http:\/\/127\.0\.0\.1:9/);
    const badToken = await drover_(['ls'], { DROVER_TOKEN: 'drv_wrong' });
    assert.equal(badToken.code, 1);
    assert.match(badToken.stderr, /token is not valid/);
    const embeddedApi = await drover_(['api'], { DATABASE_URL: '' });
    assert.equal(embeddedApi.code, 1);
    assert.match(embeddedApi.stderr, /use `drover up`|with `drover up`/);
  });
});

describe('drover catalogue (admins)', () => {
  it('registers the resources and applications of a catalogue file, and lists the clusters with their login node', async () => {
    const run = await drover_(['catalogue', join(projectRoot, 'catalogue', 'test-cluster.yaml')]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'registered resource hpc-slurm\nregistered resource hpc-pbs\n');
    const resources = await drover_(['resources']);
    assert.match(resources.stdout, /hpc-slurm\s+slurm\s+hpcuser@127\.0\.0\.1:2222\s+debug\s+10\s+8/);
    assert.match(resources.stdout, /hpc-pbs\s+pbs\s+hpcuser@127\.0\.0\.1:2222\s+long\s+60\s+8/);
  });

  it('refuses a cluster resource without SSH settings, naming the field', async () => {
    const file = join(workDir, 'bad-cluster.yaml');
    await writeFile(
      file,
      'resources:\n  - name: hpc-broken\n    kind: slurm\n    config:\n      scratchDir: /scratch\n      queues: [{ name: debug, maxWalltimeMinutes: 10, maxCores: 8 }]\n',
    );
    const run = await drover_(['catalogue', file]);
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /config\.ssh/);
    assert.match(run.stderr, /needs ssh: host, user, credential \(or privateKeyPath\) and knownHostsPath or hostKey/);
    const missing = await drover_(['catalogue', join(workDir, 'no-such-file.yaml')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read .*no-such-file\.yaml/);
  });
});
