/**
 * The user commands: submit, ls, show, watch, cancel, clone, logs, outputs, script, apps,
 * resources. Each talks to the HTTP API; `--json` prints the API's JSON.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { ApiClient, CliError, resolveConnection } from './client.ts';
import { eventLine, experimentText, printJson, table, time } from './format.ts';
import { terminalExperimentStates } from '../domain/experiment.ts';

interface GlobalOptions {
  url?: string;
  token?: string;
  json?: boolean;
}

const terminal = new Set<string>(terminalExperimentStates);
/** Exit codes of `watch` and `--watch`: 0 completed, 1 failed, 2 canceled. */
const exitCodes: Record<string, number> = { completed: 0, failed: 1, canceled: 2 };

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Parses `-i name=value` pairs; `name=@path` uploads the file and passes its id. */
async function parseInputs(client: ApiClient, pairs: string[]): Promise<Record<string, string>> {
  const inputs: Record<string, string> = {};
  for (const pair of pairs) {
    const equals = pair.indexOf('=');
    if (equals <= 0)
      throw new CliError(
        `bad input ${JSON.stringify(pair)}`,
        ['write inputs as -i name=value (or -i name=@file to upload a file)'],
        2,
      );
    const name = pair.slice(0, equals);
    const value = pair.slice(equals + 1);
    if (value.startsWith('@')) {
      const path = value.slice(1);
      const content = await readFile(path).catch((error) => {
        throw new CliError(`cannot read ${path}: ${error.message}`, [], 2);
      });
      const upload = await client.request(
        'POST',
        `/api/v1/uploads?filename=${encodeURIComponent(basename(path))}`,
        content,
      );
      inputs[name] = upload.id;
    } else inputs[name] = value;
  }
  return inputs;
}

function settingsFrom(options: Record<string, any>) {
  const number = (value: unknown, flag: string) => {
    if (value === undefined) return undefined;
    const parsed = Number(value);
    if (!Number.isFinite(parsed)) throw new CliError(`${flag} must be a number, got ${JSON.stringify(value)}`, [], 2);
    return parsed;
  };
  return {
    queue: options.queue,
    nodes: number(options.nodes, '--nodes'),
    coresPerNode: number(options.cores, '--cores'),
    walltimeMinutes: number(options.walltime, '--walltime'),
    memoryMb: number(options.memory, '--memory'),
    name: options.name,
  };
}

/** Prints events until the experiment ends; returns its final state. */
async function watch(client: ApiClient, id: string, json: boolean): Promise<string> {
  let finalState = '';
  const current = await client.request('GET', `/api/v1/experiments/${id}`);
  if (!json) process.stderr.write(`watching ${current.name} (${id}); Ctrl-C stops watching, not the experiment\n`);
  await client.followEvents(`/api/v1/experiments/${id}/events`, (message) => {
    const event = JSON.parse(message.data);
    if (json) process.stdout.write(JSON.stringify(event) + '\n');
    else process.stdout.write(eventLine(event) + '\n');
    if (event.entity === 'experiment' && terminal.has(event.toState)) {
      finalState = event.toState;
      return true;
    }
    return false;
  });
  return finalState;
}

export function registerUserCommands(program: Command): void {
  const context = (command: Command) => {
    const options = command.optsWithGlobals() as GlobalOptions & Record<string, any>;
    return { options, client: new ApiClient(resolveConnection(options)), json: Boolean(options.json) };
  };

  program
    .command('submit')
    .description('submit an experiment: an application, its inputs and a resource')
    .argument('<application>', 'application name (see `drover apps`)')
    .option('-i, --input <name=value>', 'an input; repeat for more; name=@file uploads a file', collect, [])
    .option('-r, --resource <name>', 'compute resource (see `drover resources`)', 'local')
    .option('-q, --queue <name>', 'queue (partition)')
    .option('--nodes <n>', 'nodes')
    .option('--cores <n>', 'cores per node')
    .option('--walltime <minutes>', 'walltime in minutes')
    .option('--memory <mb>', 'memory in MB')
    .option('-n, --name <name>', 'experiment name')
    .option('--draft', 'create without launching (preview with `drover script`, launch with `drover launch`)')
    .option('-w, --watch', 'follow the experiment until it ends (exit code 0 completed, 1 failed, 2 canceled)')
    .action(async (application: string, _options, command: Command) => {
      const { options, client, json } = context(command);
      const inputs = await parseInputs(client, options.input);
      const experiment = await client.request('POST', '/api/v1/experiments', {
        application,
        resource: options.resource,
        inputs,
        launch: !options.draft,
        ...settingsFrom(options),
      });
      if (json) printJson(experiment);
      else process.stdout.write(`${experiment.id}  ${experiment.state}  ${experiment.name}\n`);
      if (options.watch) process.exitCode = exitCodes[await watch(client, experiment.id, json)] ?? 1;
    });

  program
    .command('launch')
    .description('launch a draft experiment')
    .argument('<id>')
    .action(async (id: string, _options, command: Command) => {
      const { client, json } = context(command);
      const experiment = await client.request('POST', `/api/v1/experiments/${id}/launch`);
      if (json) printJson(experiment);
      else process.stdout.write(`${experiment.id}  ${experiment.state}\n`);
    });

  program
    .command('ls')
    .description('list experiments, newest first')
    .option('-s, --state <states>', 'comma-separated states, e.g. executing,queued')
    .option('-a, --app <name>', 'application')
    .option('-r, --resource <name>', 'resource')
    .option('--owner <name>', 'owner (admins)')
    .option('--search <text>', 'text in the name, application or id')
    .option('--since <time>', 'created at or after (ISO 8601)')
    .option('--until <time>', 'created before (ISO 8601)')
    .option('--limit <n>', 'page size', '50')
    .option('--cursor <cursor>', 'the next page, from a previous --json listing')
    .action(async (_options, command: Command) => {
      const { options, client, json } = context(command);
      const query = new URLSearchParams();
      const set = (key: string, value?: string) => value && query.set(key, value);
      set('state', options.state);
      set('application', options.app);
      set('resource', options.resource);
      set('owner', options.owner);
      set('q', options.search);
      set('since', options.since);
      set('until', options.until);
      set('limit', options.limit);
      set('cursor', options.cursor);
      const page = await client.request('GET', `/api/v1/experiments?${query}`);
      if (json) return printJson(page);
      const rows = [['ID', 'STATE', 'APPLICATION', 'RESOURCE', 'CREATED', 'NAME']];
      for (const item of page.items)
        rows.push([item.id, item.state, item.application, item.resource, time(item.createdAt), item.name]);
      process.stdout.write(table(rows));
      if (page.nextCursor) process.stdout.write(`more: drover ls --cursor ${page.nextCursor}\n`);
    });

  program
    .command('show')
    .description('show an experiment: inputs, tasks, job')
    .argument('<id>')
    .action(async (id: string, _options, command: Command) => {
      const { client, json } = context(command);
      const experiment = await client.request('GET', `/api/v1/experiments/${id}`);
      if (json) printJson(experiment);
      else process.stdout.write(experimentText(experiment));
    });

  program
    .command('watch')
    .description('follow an experiment live until it ends (exit code 0 completed, 1 failed, 2 canceled)')
    .argument('<id>')
    .action(async (id: string, _options, command: Command) => {
      const { client, json } = context(command);
      process.exitCode = exitCodes[await watch(client, id, json)] ?? 1;
    });

  program
    .command('cancel')
    .description('cancel an experiment; its job is killed')
    .argument('<id>')
    .option('-w, --wait', 'wait until it is canceled')
    .action(async (id: string, _options, command: Command) => {
      const { options, client, json } = context(command);
      const experiment = await client.request('POST', `/api/v1/experiments/${id}/cancel`);
      if (json && !options.wait) printJson(experiment);
      else if (!json) process.stdout.write(`${experiment.id}  ${experiment.state}\n`);
      if (options.wait && !terminal.has(experiment.state)) await watch(client, id, json);
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
    .option('-n, --name <name>', 'name of the clone')
    .option('--draft', 'create the clone without launching it')
    .option('-w, --watch', 'follow the clone until it ends')
    .action(async (id: string, _options, command: Command) => {
      const { options, client, json } = context(command);
      const inputs = await parseInputs(client, options.input);
      const clone = await client.request('POST', `/api/v1/experiments/${id}/clone`, {
        inputs,
        resource: options.resource,
        launch: !options.draft,
        ...settingsFrom(options),
      });
      if (json) printJson(clone);
      else
        process.stdout.write(
          `${clone.id}  ${clone.state}  ${clone.name}  (changed: ${clone.changedInputs.join(', ') || 'nothing'})\n`,
        );
      if (options.watch) process.exitCode = exitCodes[await watch(client, clone.id, json)] ?? 1;
    });

  program
    .command('logs')
    .description("print the job's stdout (or --stderr)")
    .argument('<id>')
    .option('--stderr', 'print stderr instead of stdout')
    .option('--tail <bytes>', 'only the last N bytes')
    .action(async (id: string, _options, command: Command) => {
      const { options, client, json } = context(command);
      const stream = options.stderr ? 'stderr' : 'stdout';
      const text = await client.request(
        'GET',
        `/api/v1/experiments/${id}/logs/${stream}${options.tail ? `?tail=${Number(options.tail)}` : ''}`,
      );
      if (json) printJson({ stream, text });
      else process.stdout.write(text);
    });

  program
    .command('outputs')
    .description("list an experiment's output files, or download them with --download")
    .argument('<id>')
    .option('-d, --download <dir>', 'download every output into this folder')
    .action(async (id: string, _options, command: Command) => {
      const { options, client, json } = context(command);
      const { items } = await client.request('GET', `/api/v1/experiments/${id}/outputs`);
      if (options.download) {
        const root = resolve(options.download);
        for (const file of items) {
          const target = resolve(root, file.path);
          if (!target.startsWith(root)) continue;
          const response = await client.fetch(
            'GET',
            `/api/v1/experiments/${id}/outputs/${file.path.split('/').map(encodeURIComponent).join('/')}`,
          );
          await mkdir(dirname(target), { recursive: true });
          await writeFile(target, Buffer.from(await response.arrayBuffer()));
          if (!json) process.stdout.write(`${join(options.download, file.path)}  ${file.size} bytes\n`);
        }
      }
      if (json) printJson({ items });
      else if (!options.download)
        process.stdout.write(table([['PATH', 'BYTES'], ...items.map((file: any) => [file.path, String(file.size)])]));
    });

  program
    .command('script')
    .description('print the exact batch script Drover submits for an experiment')
    .argument('<id>')
    .action(async (id: string, _options, command: Command) => {
      const { client, json } = context(command);
      const script = await client.request('GET', `/api/v1/experiments/${id}/script`);
      if (json) printJson({ script });
      else process.stdout.write(script);
    });

  program
    .command('apps')
    .description('list the applications you can run')
    .action(async (_options, command: Command) => {
      const { client, json } = context(command);
      const { items } = await client.request('GET', '/api/v1/applications');
      if (json) return printJson({ items });
      process.stdout.write(
        table([
          ['NAME', 'VERSION', 'TITLE', 'INPUTS'],
          ...items.map((app: any) => [
            app.name,
            app.version,
            app.title,
            app.inputs.map((input: any) => `${input.name}:${input.type}${input.required ? '*' : ''}`).join(' '),
          ]),
        ]),
      );
    });

  program
    .command('resources')
    .description('list the compute resources and their queues')
    .action(async (_options, command: Command) => {
      const { client, json } = context(command);
      const { items } = await client.request('GET', '/api/v1/resources');
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
      const { client, json } = context(command);
      let catalogue: { resources?: unknown[]; applications?: unknown[] };
      try {
        catalogue = (parseYaml(await readFile(file, 'utf8')) ?? {}) as typeof catalogue;
      } catch (error) {
        throw new CliError(
          `cannot read ${file}: ${(error as Error).message}`,
          ['give a YAML file with `resources:` and/or `applications:` lists'],
          2,
        );
      }
      const registered: Array<{ kind: string; name: string }> = [];
      // Resources first: applications name them in their deployments.
      for (const [kind, path, list] of [
        ['resource', '/api/v1/resources', catalogue.resources],
        ['application', '/api/v1/applications', catalogue.applications],
      ] as const) {
        for (const item of list ?? []) {
          const saved = await client.request('POST', path, item);
          registered.push({ kind, name: saved.name });
        }
      }
      if (json) return printJson({ registered });
      for (const item of registered) process.stdout.write(`registered ${item.kind} ${item.name}\n`);
    });
}
