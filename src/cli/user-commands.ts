/**
 * The user commands: submit, ls, show, watch, cancel, resume, clone, logs, outputs, script, apps,
 * resources. Each talks to the HTTP API; `--json` prints the API's JSON.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { serializeOutputPath } from '../api-client/client.ts';
import type { ExperimentEvent, ExperimentRequest, JobProgress } from '../api-client/types.ts';
import { formatPercent } from '../api-client/progress.ts';
import {
  call,
  CliError,
  connect,
  creationHeader,
  followEvents,
  idempotencyKeyOption,
  resolveConnection,
  type CliClient,
  type GlobalOptions,
} from './client.ts';
import { eventLine, experimentText, headlineColumns, printJson, shellWord, table, time } from './format.ts';
import { ProgressLine } from './progress-line.ts';
import { exitCodeOfFinalState, exitCodes } from './exit-codes.ts';
import { terminalExperimentStates } from '../domain/experiment.ts';
import { parseEvents } from './notify-commands.ts';

/** The flags of `submit` and `clone` that become the experiment's job settings and name. */
export interface SettingsOptions {
  queue?: string;
  nodes?: string;
  cores?: string;
  walltime?: string;
  memory?: string;
  priority?: string;
  name?: string;
  input: string[];
  draft?: boolean;
  watch?: boolean;
}

const terminal = new Set<string>(terminalExperimentStates);

const priorityHelp =
  'your priority for it among your own experiments waiting on its queue, -5 to 5 (default 0; it does not go before other users’)';

/** Collects a repeated flag's values (`-i a=1 -i b=2`). */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Parses `-i name=value` pairs; `name=@path` uploads the file and passes its id. */
export async function parseInputs({ api }: CliClient, pairs: string[]): Promise<Record<string, string>> {
  const inputs: Record<string, string> = {};
  for (const pair of pairs) {
    const equals = pair.indexOf('=');
    if (equals <= 0)
      throw new CliError(
        `bad input ${JSON.stringify(pair)}`,
        ['write inputs as -i name=value (or -i name=@file to upload a file)'],
        exitCodes.usage,
      );
    const name = pair.slice(0, equals);
    const value = pair.slice(equals + 1);
    if (value.startsWith('@')) {
      const path = value.slice(1);
      const content = await readFile(path).catch((error) => {
        throw new CliError(`cannot read ${path}: ${error.message}`, [], exitCodes.usage);
      });
      const upload = await call(
        api.POST('/api/v1/uploads', {
          params: { query: { filename: basename(path) } },
          // The document declares no body: the route reads the raw bytes of any content type.
          body: content as never,
          bodySerializer: (body: unknown) => new Uint8Array(body as Buffer),
          headers: { 'content-type': 'application/octet-stream' },
        }),
      );
      inputs[name] = upload.id;
    } else inputs[name] = value;
  }
  return inputs;
}

/** The job settings and name a command's flags give (`--queue`, `--cores`, ...). */
export function settingsFrom(options: SettingsOptions) {
  const number = (value: unknown, flag: string) => {
    if (value === undefined) return undefined;
    const parsed = Number(value);
    if (!Number.isFinite(parsed))
      throw new CliError(`${flag} must be a number, got ${JSON.stringify(value)}`, [], exitCodes.usage);
    return parsed;
  };
  return {
    queue: options.queue,
    nodes: number(options.nodes, '--nodes'),
    coresPerNode: number(options.cores, '--cores'),
    walltimeMinutes: number(options.walltime, '--walltime'),
    memoryMb: number(options.memory, '--memory'),
    priority: number(options.priority, '--priority'),
    name: options.name,
  };
}

/**
 * Prints events until the experiment ends and returns the exit code of its final state. With
 * `--json` each event is one line of JSON (NDJSON), as is the experiment `submit` printed before.
 */
async function watch(client: CliClient, id: string, json: boolean): Promise<number> {
  let finalState = '';
  const current = await call(client.api.GET('/api/v1/experiments/{id}', { params: { path: { id } } }));
  if (!json) process.stderr.write(`watching ${current.name} (${id}); Ctrl-C stops watching, not the experiment\n`);
  const progress = new ProgressLine(current.settings.walltimeMinutes, Boolean(process.stdout.isTTY));
  // The stream replays every run of a resumed experiment: only the end of the run that was
  // current when the watch began (after its run - 1 `resumed` events) ends the watch.
  let resumes = 0;
  await followEvents(client, id, (message) => {
    if (message.event === 'progress') {
      const data = JSON.parse(message.data) as { jobId: number; progress: JobProgress };
      if (json) process.stdout.write(JSON.stringify(data) + '\n');
      else progress.update(data.progress);
      return false;
    }
    const event = JSON.parse(message.data) as ExperimentEvent;
    if (json) process.stdout.write(JSON.stringify(event) + '\n');
    else progress.print(eventLine(event));
    if (event.entity === 'job' && event.toState) progress.job(event.toState, event.at);
    if (event.entity === 'experiment' && event.label === 'resumed') resumes += 1;
    if (event.entity === 'experiment' && event.toState && terminal.has(event.toState) && resumes >= current.run - 1) {
      finalState = event.toState;
      return true;
    }
    return false;
  });
  progress.clear();
  if (!finalState) throw new CliError(`the event stream of ${id} ended before the experiment did`);
  return exitCodeOfFinalState(finalState);
}

/** Prints a created experiment: one line of JSON when events follow it (`--json --watch`). */
function printCreated(
  experiment: { id: string; state: string; name: string; resourceChoice?: string | null },
  json: boolean,
  watching: boolean,
) {
  if (json && watching) process.stdout.write(JSON.stringify(experiment) + '\n');
  else if (json) printJson(experiment);
  else {
    process.stdout.write(`${experiment.id}  ${experiment.state}  ${experiment.name}\n`);
    // Resource auto: which one, and why (the first line stays the same for scripts).
    if (experiment.resourceChoice) process.stdout.write(`  ${experiment.resourceChoice}\n`);
  }
}

/** The filters and paging flags of `ls`. */
interface ListOptions {
  state?: string;
  app?: string;
  resource?: string;
  owner?: string;
  search?: string;
  since?: string;
  until?: string;
  limit?: string;
  cursor?: string;
}

/** `ls`'s page size when `--limit` is not given. */
const defaultPageSize = '50';

/** The `ls` command that lists the next page: the same filters, quoted for a shell, and the cursor. */
function nextPageCommand(options: ListOptions, cursor: string): string {
  const flags: Array<[string, string | undefined]> = [
    ['--state', options.state],
    ['--app', options.app],
    ['--resource', options.resource],
    ['--owner', options.owner],
    ['--search', options.search],
    ['--since', options.since],
    ['--until', options.until],
    ['--limit', options.limit === defaultPageSize ? undefined : options.limit],
    ['--cursor', cursor],
  ];
  const given = flags.filter((flag): flag is [string, string] => Boolean(flag[1]));
  return ['drover ls', ...given.map(([flag, value]) => `${flag} ${shellWord(value)}`)].join(' ');
}

/** The flags of `submit --from`. */
type BatchOptions = SettingsOptions & { resource: string; from: string; idempotencyKey?: string };

/** The body of POST /api/v1/experiments, as `submit --from` reads it from a file. */
type ExperimentItem = Record<string, unknown> & { inputs?: Record<string, unknown> };

/**
 * `submit --from <file>`: creates the file's experiments in one request (POST
 * /api/v1/experiments/batch, one transaction). Each item may leave out what the flags give:
 * the resource, settings and inputs (`-i`), and `launch` (`--draft`).
 */
async function submitMany(client: CliClient, application: string | undefined, options: BatchOptions, json: boolean) {
  if (application !== undefined || options.name !== undefined || options.watch)
    throw new CliError(
      '--from takes the experiments from the file',
      ['name the application and each name in the file, and follow experiments with `drover watch <id>`'],
      exitCodes.usage,
    );
  const text = await readFile(options.from, 'utf8').catch((error) => {
    throw new CliError(`cannot read ${options.from}: ${error.message}`, [], exitCodes.usage);
  });
  let parsed: unknown;
  try {
    // yaml is loaded only here and for `catalogue`: the other commands never need it.
    const { parse: parseYaml } = await import('yaml');
    parsed = parseYaml(text);
  } catch (error) {
    throw new CliError(`${options.from} is not JSON or YAML: ${(error as Error).message}`, [], exitCodes.usage);
  }
  const list = Array.isArray(parsed) ? parsed : (parsed as { items?: unknown } | null)?.items;
  if (!Array.isArray(list) || list.some((item) => typeof item !== 'object' || item === null || Array.isArray(item)))
    throw new CliError(
      `${options.from} must hold a list of experiments`,
      ['each item as POST /api/v1/experiments takes it, e.g. - { application: pi-monte-carlo, inputs: { seed: 1 } }'],
      exitCodes.usage,
    );
  const inputs = await parseInputs(client, options.input);
  const defaults = Object.fromEntries(
    Object.entries({ resource: options.resource, launch: !options.draft, ...settingsFrom(options) }).filter(
      ([, value]) => value !== undefined,
    ),
  );
  const items = (list as ExperimentItem[]).map((item) => ({
    ...defaults,
    ...item,
    ...(Object.keys(inputs).length > 0 || item.inputs ? { inputs: { ...inputs, ...item.inputs } } : {}),
  }));
  const created = await call(
    client.api.POST('/api/v1/experiments/batch', {
      params: { header: creationHeader(options.idempotencyKey) },
      // The server checks each item and names the bad fields (items.<index>.<field>).
      body: { items: items as unknown as ExperimentRequest[] },
    }),
  );
  if (json) return printJson(created);
  for (const experiment of created.items)
    process.stdout.write(`${experiment.id}  ${experiment.state}  ${experiment.name}\n`);
}

/** Adds the user commands to `program`. */
export function registerUserCommands(program: Command): void {
  const context = <Options extends object = object>(command: Command) => {
    const options = command.optsWithGlobals<GlobalOptions & Options>();
    const client = connect(resolveConnection(options));
    return { options, client, api: client.api, json: Boolean(options.json) };
  };

  program
    .command('submit')
    .description('submit an experiment: an application, its inputs and a resource (or many, with --from)')
    .argument('[application]', 'application name (see `drover apps`)')
    .option('-i, --input <name=value>', 'an input; repeat for more; name=@file uploads a file', collect, [])
    .option(
      '-r, --resource <name>',
      'compute resource (see `drover resources`), or auto: the one expected to start it first',
      'local',
    )
    .option('-q, --queue <name>', 'queue (partition)')
    .option('--nodes <n>', 'nodes')
    .option('--cores <n>', 'cores per node')
    .option('--walltime <minutes>', 'walltime in minutes')
    .option('--memory <mb>', 'memory in MB')
    .option('--priority <n>', priorityHelp)
    .option('-n, --name <name>', 'experiment name')
    .option('--draft', 'create without launching (preview with `drover script`, launch with `drover launch`)')
    .option('-w, --watch', 'follow the experiment until it ends (exit code 0 completed, 3 failed, 4 canceled)')
    .option(
      '--notify <events>',
      'notify of these events of it (started,completed,failed,canceled or none) instead of your defaults (see `drover notify`)',
    )
    .option(...idempotencyKeyOption)
    .option(
      '--from <file>',
      'create many experiments in one request, all or none: a JSON or YAML list of experiments as POST /api/v1/experiments takes them (at most 1000); the flags give what an item leaves out',
    )
    .addHelpText(
      'after',
      `
Many at once (one transaction: a bad item creates nothing and names items.<index>.<field>):
  $ cat sweep.yaml
  - { application: pi-monte-carlo, name: seed 1, inputs: { samples: 100000, seed: 1 } }
  - { application: pi-monte-carlo, name: seed 2, inputs: { samples: 100000, seed: 2 } }
  $ drover submit --from sweep.yaml --resource local`,
    )
    .action(async (application: string | undefined, _options, command: Command) => {
      const { options, client, api, json } = context<
        SettingsOptions & { resource: string; from?: string; notify?: string; idempotencyKey?: string }
      >(command);
      if (options.from !== undefined) return submitMany(client, application, options as BatchOptions, json);
      if (application === undefined)
        throw new CliError(
          'which application?',
          ['drover submit <application> (see `drover apps`), or drover submit --from <file> for many'],
          exitCodes.usage,
        );
      const notify = options.notify !== undefined ? { events: parseEvents(options.notify, '--notify') } : undefined;
      const inputs = await parseInputs(client, options.input);
      const experiment = await call(
        api.POST('/api/v1/experiments', {
          params: { header: creationHeader(options.idempotencyKey) },
          body: {
            application,
            resource: options.resource,
            inputs,
            launch: !options.draft,
            ...settingsFrom(options),
            ...(notify ? { notify } : {}),
          },
        }),
      );
      printCreated(experiment, json, Boolean(options.watch));
      if (options.watch) process.exitCode = await watch(client, experiment.id, json);
    });

  program
    .command('launch')
    .description('launch a draft experiment')
    .argument('<id>')
    .action(async (id: string, _options, command: Command) => {
      const { api, json } = context(command);
      const experiment = await call(api.POST('/api/v1/experiments/{id}/launch', { params: { path: { id } } }));
      if (json) printJson(experiment);
      else process.stdout.write(`${experiment.id}  ${experiment.state}\n`);
    });

  program
    .command('ls')
    .description('list experiments, newest first')
    .option('-s, --state <states>', 'comma-separated states, e.g. executing,queued')
    .option('-a, --app <name>', 'application (its headline values become columns)')
    .option('-r, --resource <name>', 'resource')
    .option('--owner <name>', 'owner (admins)')
    .option('--search <text>', 'text in the name, application or id')
    .option('--since <time>', 'created at or after (ISO 8601)')
    .option('--until <time>', 'created before (ISO 8601)')
    .option('--limit <n>', 'page size', defaultPageSize)
    .option('--cursor <cursor>', 'the next page, from a previous --json listing')
    .action(async (_options, command: Command) => {
      const { options, api, json } = context<ListOptions>(command);
      // An empty flag (`--state ''`) filters nothing, as if it were not given.
      const given = (value?: string) => value || undefined;
      const page = await call(
        api.GET('/api/v1/experiments', {
          params: {
            query: {
              state: given(options.state),
              application: given(options.app),
              resource: given(options.resource),
              owner: given(options.owner),
              q: given(options.search),
              since: given(options.since),
              until: given(options.until),
              limit: options.limit ? Number(options.limit) : undefined,
              cursor: given(options.cursor),
            },
          },
        }),
      );
      if (json) return printJson(page);
      // Filtered to one application, its headline values are columns (before the name, the
      // one cell of free length).
      const headlines = options.app ? headlineColumns(page.items) : { headers: [], cells: [] };
      const rows = [['ID', 'STATE', 'APPLICATION', 'RESOURCE', 'CREATED', ...headlines.headers, 'NAME']];
      for (const [index, item] of page.items.entries()) {
        // A running program's own progress beside its state: `executing 42%`; a waiting
        // experiment's place in line: `queued #3`.
        const running = item.progress && item.progress.jobEndedAt === null && item.progress.fraction !== null;
        const state = running
          ? `${item.state} ${formatPercent(item.progress!.fraction!)}`
          : item.waiting
            ? `${item.state} #${item.waiting.place}`
            : item.state;
        rows.push([
          item.id,
          state,
          item.application,
          item.resource,
          time(item.createdAt),
          ...(headlines.cells[index] ?? []),
          item.name,
        ]);
      }
      process.stdout.write(table(rows));
      if (page.nextCursor) process.stdout.write(`more: ${nextPageCommand(options, page.nextCursor)}\n`);
    });

  program
    .command('show')
    .description("show an experiment: results (the application's headline values), inputs, tasks, job")
    .argument('<id>')
    .action(async (id: string, _options, command: Command) => {
      const { api, json } = context(command);
      const experiment = await call(api.GET('/api/v1/experiments/{id}', { params: { path: { id } } }));
      if (json) printJson(experiment);
      else process.stdout.write(experimentText(experiment));
    });

  program
    .command('watch')
    .description('follow an experiment live until it ends (exit code 0 completed, 3 failed, 4 canceled)')
    .argument('<id>')
    .action(async (id: string, _options, command: Command) => {
      const { client, json } = context(command);
      process.exitCode = await watch(client, id, json);
    });

  program
    .command('cancel')
    .description('cancel an experiment; its job is killed')
    .argument('<id>')
    .option('-w, --wait', 'wait until it is canceled')
    .action(async (id: string, _options, command: Command) => {
      const { options, client, api, json } = context<{ wait?: boolean }>(command);
      const experiment = await call(api.POST('/api/v1/experiments/{id}/cancel', { params: { path: { id } } }));
      if (json && !options.wait) printJson(experiment);
      else if (!json) process.stdout.write(`${experiment.id}  ${experiment.state}\n`);
      // --wait succeeds once the experiment has ended, whatever it ended as.
      if (options.wait && !terminal.has(experiment.state)) await watch(client, id, json);
    });

  program
    .command('resume')
    .description(
      'run a failed experiment again from the task that failed, keeping what completed (a failed job runs again as a new job)',
    )
    .argument('<id>')
    .option('-w, --watch', 'follow the resumed run until it ends (exit code 0 completed, 3 failed, 4 canceled)')
    .action(async (id: string, _options, command: Command) => {
      const { options, client, api, json } = context<{ watch?: boolean }>(command);
      const experiment = await call(api.POST('/api/v1/experiments/{id}/resume', { params: { path: { id } } }));
      if (json) printCreated(experiment, json, Boolean(options.watch));
      else {
        // The `resumed` event says where the run starts; the tasks may have moved on already.
        const { items } = (await call(api.GET('/api/v1/experiments/{id}/events', { params: { path: { id } } }))) as {
          items: ExperimentEvent[];
        };
        const resumed = items.filter((event) => event.entity === 'experiment' && event.label === 'resumed').at(-1);
        process.stdout.write(`${experiment.id}  ${experiment.state}  ${resumed?.message ?? `run ${experiment.run}`}\n`);
      }
      if (options.watch) process.exitCode = await watch(client, id, json);
    });

  program
    .command('priority')
    .description(
      'change your priority for an experiment: it reorders your own experiments waiting on its queue, not other users’',
    )
    .argument('<id>')
    .argument('<priority>', '-5 to 5; higher starts first')
    .action(async (id: string, priority: string, _options, command: Command) => {
      const { api, json } = context(command);
      const value = Number(priority);
      if (!Number.isInteger(value) || value < -5 || value > 5)
        throw new CliError(
          `priority must be a whole number from -5 to 5, got ${JSON.stringify(priority)}`,
          ['drover priority <id> 2'],
          exitCodes.usage,
        );
      const experiment = await call(
        api.PATCH('/api/v1/experiments/{id}', { params: { path: { id } }, body: { priority: value } }),
      );
      if (json) return printJson(experiment);
      const place = experiment.waiting ? `, #${experiment.waiting.place} in line` : '';
      process.stdout.write(`${experiment.id}  ${experiment.state}  priority ${experiment.priority}${place}\n`);
    });

  program
    .command('clone')
    .description('clone an experiment, changing some inputs, and launch the clone')
    .argument('<id>')
    .option('-i, --input <name=value>', 'an input to change; repeat for more', collect, [])
    .option('-r, --resource <name>', 'another resource')
    .option('-q, --queue <name>', 'queue')
    .option('--nodes <n>', 'nodes')
    .option('--cores <n>', 'cores per node')
    .option('--walltime <minutes>', 'walltime in minutes')
    .option('--memory <mb>', 'memory in MB')
    .option('--priority <n>', priorityHelp)
    .option('-n, --name <name>', 'name of the clone')
    .option('--draft', 'create the clone without launching it')
    .option(...idempotencyKeyOption)
    .option('-w, --watch', 'follow the clone until it ends (exit code 0 completed, 3 failed, 4 canceled)')
    .action(async (id: string, _options, command: Command) => {
      const { options, client, api, json } = context<SettingsOptions & { resource?: string; idempotencyKey?: string }>(
        command,
      );
      const inputs = await parseInputs(client, options.input);
      const clone = await call(
        api.POST('/api/v1/experiments/{id}/clone', {
          params: { path: { id }, header: creationHeader(options.idempotencyKey) },
          body: { inputs, resource: options.resource, launch: !options.draft, ...settingsFrom(options) },
        }),
      );
      if (json) printCreated(clone, json, Boolean(options.watch));
      else
        process.stdout.write(
          `${clone.id}  ${clone.state}  ${clone.name}  (changed: ${clone.changedInputs.join(', ') || 'nothing'})\n`,
        );
      if (options.watch) process.exitCode = await watch(client, clone.id, json);
    });

  program
    .command('logs')
    .description("print the job's stdout (or --stderr)")
    .argument('<id>')
    .option('--stderr', 'print stderr instead of stdout')
    .option('--tail <bytes>', 'only the last N bytes')
    .action(async (id: string, _options, command: Command) => {
      const { options, api, json } = context<{ stderr?: boolean; tail?: string }>(command);
      const stream = options.stderr ? 'stderr' : 'stdout';
      const text =
        (await call(
          api.GET('/api/v1/experiments/{id}/logs/{stream}', {
            params: { path: { id, stream }, query: { tail: options.tail ? Number(options.tail) : undefined } },
            parseAs: 'text',
          }),
        )) ?? ''; // an empty log has no body
      if (json) printJson({ stream, text });
      else process.stdout.write(text);
    });

  program
    .command('outputs')
    .description("list an experiment's output files, or download them with --download")
    .argument('<id>')
    .option('-d, --download <dir>', 'download every output into this folder')
    .action(async (id: string, _options, command: Command) => {
      const { options, api, json } = context<{ download?: string }>(command);
      const { items } = await call(api.GET('/api/v1/experiments/{id}/outputs', { params: { path: { id } } }));
      if (options.download) {
        const root = resolve(options.download);
        for (const file of items) {
          const target = resolve(root, file.path);
          if (!target.startsWith(root)) continue;
          const content = await call(
            api.GET('/api/v1/experiments/{id}/outputs/{path}', {
              params: { path: { id, path: file.path } },
              pathSerializer: serializeOutputPath,
              parseAs: 'arrayBuffer',
            }),
          );
          await mkdir(dirname(target), { recursive: true });
          await writeFile(target, Buffer.from(content ?? new ArrayBuffer(0))); // an empty file has no body
          if (!json) process.stdout.write(`${join(options.download, file.path)}  ${file.size} bytes\n`);
        }
      }
      if (json) printJson({ items });
      else if (!options.download)
        process.stdout.write(table([['PATH', 'BYTES'], ...items.map((file) => [file.path, String(file.size)])]));
    });

  program
    .command('script')
    .description('print the exact batch script Drover submits for an experiment')
    .argument('<id>')
    .action(async (id: string, _options, command: Command) => {
      const { api, json } = context(command);
      const script =
        (await call(api.GET('/api/v1/experiments/{id}/script', { params: { path: { id } }, parseAs: 'text' }))) ?? '';
      if (json) printJson({ script });
      else process.stdout.write(script);
    });

  program
    .command('apps')
    .description('list the applications you can run')
    .action(async (_options, command: Command) => {
      const { api, json } = context(command);
      const { items } = await call(api.GET('/api/v1/applications'));
      if (json) return printJson({ items });
      process.stdout.write(
        table([
          ['NAME', 'VERSION', 'TITLE', 'INPUTS (* must be given)'],
          ...items.map((app) => [
            app.name,
            app.version,
            app.title,
            // `*`: must be given. A required input with a default is filled in when left out.
            app.inputs
              .map((input) => `${input.name}:${input.type}${input.required && input.default === undefined ? '*' : ''}`)
              .join(' '),
          ]),
        ]),
      );
    });

  program
    .command('resources')
    .description('list the compute resources and their queues')
    .action(async (_options, command: Command) => {
      const { api, json } = context(command);
      const { items } = await call(api.GET('/api/v1/resources'));
      if (json) return printJson({ items });
      const rows = [['NAME', 'KIND', 'LOGIN NODE', 'QUEUE', 'MAX WALLTIME (MIN)', 'MAX CORES', 'MAX JOBS/USER']];
      for (const resource of items) {
        const ssh = resource.config.ssh;
        const login = ssh ? `${ssh.user}@${ssh.host}:${ssh.port ?? 22}` : '-';
        for (const queue of resource.config.queues) {
          rows.push([
            resource.name,
            resource.kind,
            login,
            queue.name,
            String(queue.maxWalltimeMinutes),
            String(queue.maxCores),
            String(queue.maxJobsPerUser ?? '-'),
          ]);
        }
      }
      process.stdout.write(table(rows));
    });

  program
    .command('catalogue')
    .description(
      'register the resources and applications of a YAML catalogue file (admins; same format as catalogue/*.yaml)',
    )
    .argument('<file>', 'catalogue file')
    .action(async (file: string, _options, command: Command) => {
      const { api, json } = context(command);
      let catalogue: { resources?: unknown[]; applications?: unknown[] };
      try {
        // yaml is loaded only here: the other commands never need it.
        const { parse: parseYaml } = await import('yaml');
        catalogue = (parseYaml(await readFile(file, 'utf8')) ?? {}) as typeof catalogue;
      } catch (error) {
        throw new CliError(
          `cannot read ${file}: ${(error as Error).message}`,
          ['give a YAML file with `resources:` and/or `applications:` lists'],
          exitCodes.usage,
        );
      }
      const registered: Array<{ kind: string; name: string }> = [];
      // Resources first: applications name them in their deployments.
      // The entries go to the server as written: it checks them against the catalogue schema.
      for (const item of catalogue.resources ?? []) {
        const saved = await call(api.POST('/api/v1/resources', { body: item as Record<string, never> }));
        registered.push({ kind: 'resource', name: saved.name });
      }
      for (const item of catalogue.applications ?? []) {
        const saved = await call(api.POST('/api/v1/applications', { body: item as Record<string, never> }));
        registered.push({ kind: 'application', name: saved.name });
      }
      if (json) return printJson({ registered });
      for (const item of registered) process.stdout.write(`registered ${item.kind} ${item.name}\n`);
    });
}
