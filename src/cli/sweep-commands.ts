/**
 * `drover sweep`: parameter sweeps. `create` makes one (an application, fixed inputs, and
 * `--vary` lists or ranges combined as a product or `--zip`), `ls` lists yours, `show`
 * prints its elements as a table (varied inputs, state, headline values), and `launch`,
 * `cancel`, `clone` and `resubmit-failed` act on all of its elements. `--json` prints the API's JSON.
 */
import type { Command } from 'commander';
import type { Sweep, SweepSummary, Variation } from '../api-client/types.ts';
import { formatPercent } from '../api-client/progress.ts';
import {
  call,
  CliError,
  connect,
  creationHeader,
  idempotencyKeyOption,
  resolveConnection,
  type GlobalOptions,
} from './client.ts';
import { exitCodes } from './exit-codes.ts';
import { headlineColumns, printJson, table, time } from './format.ts';
import { collect, parseInputs, settingsFrom, type SettingsOptions } from './user-commands.ts';

function context<Options extends object = object>(command: Command) {
  const options = command.optsWithGlobals<GlobalOptions & Options>();
  const client = connect(resolveConnection(options));
  return { options, client, api: client.api, json: Boolean(options.json) };
}

/** The flags of `sweep create` and `sweep clone`. */
interface SweepOptions extends SettingsOptions {
  vary: string[];
  zip?: boolean;
  product?: boolean;
  resource?: string;
  idempotencyKey?: string;
}

const varyHelp = 'an input that varies: name=v1,v2,... or name=range:from:to:step (to included); repeat for more';

/**
 * Parses `--vary` flags: `n=1,2,3` (a list, sent as text for the server to type) or
 * `x=range:0:1:0.25`. With `allowNone`, `n=none` stops varying n (a clone's change).
 * @throws {CliError} (usage) for a malformed flag.
 */
function parseVary(flags: string[], allowNone = false): Record<string, Variation | null> {
  const vary: Record<string, Variation | null> = {};
  for (const flag of flags) {
    const equals = flag.indexOf('=');
    const name = flag.slice(0, Math.max(equals, 0));
    const spec = flag.slice(equals + 1);
    const usage = () =>
      new CliError(
        `--vary ${flag}: expected name=v1,v2,... or name=range:from:to:step`,
        ['for example --vary samples=1000,2000 --vary seed=range:1:10:1'],
        exitCodes.usage,
      );
    if (equals <= 0 || spec === '') throw usage();
    if (allowNone && spec === 'none') vary[name] = null;
    else if (spec.startsWith('range:')) {
      const parts = spec.slice('range:'.length).split(':');
      const [from, to, step] = parts.map((part) => (part.trim() === '' ? NaN : Number(part)));
      if (parts.length !== 3 || ![from, to, step].every(Number.isFinite)) throw usage();
      vary[name] = { range: { from, to, step } };
    } else vary[name] = { values: spec.split(',') };
  }
  return vary;
}

/** `product of samples, seed` / `zip of a, b`. */
function combinationText(sweep: Pick<SweepSummary, 'vary' | 'combine'>): string {
  const names = Object.keys(sweep.vary);
  return names.length === 1 ? names[0] : `${sweep.combine} of ${names.join(', ')}`;
}

/** `completed 4, failed 1`: the counts per state. */
function countsText(sweep: Pick<SweepSummary, 'counts'>): string {
  return (
    Object.entries(sweep.counts)
      .map(([state, count]) => `${state} ${count}`)
      .join(', ') || '-'
  );
}

function printCreated(sweep: Sweep, json: boolean): void {
  if (json) return printJson(sweep);
  process.stdout.write(
    `created sweep ${sweep.id}: ${sweep.elementCount} experiments (${combinationText(sweep)})\n` +
      `  follow it with: drover sweep show ${sweep.id}\n`,
  );
}

/** A sweep for `drover sweep show`: its facts, then a table of its elements. */
function sweepText(sweep: Sweep): string {
  const fixed = Object.entries(sweep.inputs).map(([name, value]) => `${name}=${JSON.stringify(value)}`);
  const lines = [
    sweep.name,
    `  id           ${sweep.id}`,
    `  application  ${sweep.application} on ${sweep.resource}`,
    `  owner        ${sweep.owner}`,
    `  created      ${time(sweep.createdAt)}`,
    `  elements     ${sweep.elementCount} (${combinationText(sweep)}): ${countsText(sweep)}`,
    ...(fixed.length > 0 ? [`  inputs       ${fixed.join(', ')}`] : []),
    ...(sweep.parentId ? [`  cloned from  ${sweep.parentId}`] : []),
  ];
  const varied = Object.keys(sweep.vary);
  const experiments = sweep.elements.map((element) => element.experiment);
  const headlines = headlineColumns(experiments);
  const rows = [['#', ...varied.map((name) => name.toUpperCase()), 'STATE', ...headlines.headers, 'EXPERIMENT']];
  for (const [at, element] of sweep.elements.entries()) {
    const { experiment } = element;
    const running =
      experiment.progress && experiment.progress.jobEndedAt === null && experiment.progress.fraction !== null;
    let state = running ? `${experiment.state} ${formatPercent(experiment.progress!.fraction!)}` : experiment.state;
    if (experiment.waiting) state += ` #${experiment.waiting.place}`;
    if (element.previous.length > 0) state += ` (try ${element.previous.length + 1})`;
    rows.push([
      String(element.index),
      ...varied.map((name) => (element.inputs[name] === undefined ? '-' : String(element.inputs[name]))),
      state,
      ...headlines.cells[at],
      experiment.id,
    ]);
  }
  return lines.join('\n') + '\n\n' + table(rows);
}

/** Adds `drover sweep ...` to `program`. */
export function registerSweepCommands(program: Command): void {
  const sweep = program
    .command('sweep')
    .description('parameter sweeps: many experiments over varied inputs, acted on together');

  const withSettings = (command: Command) =>
    command
      .option('--vary <name=values>', varyHelp, collect, [])
      .option('--zip', 'combine the varied inputs value by value (equal lengths) instead of every combination')
      .option('--product', 'every combination of the varied values (the default for create)')
      .option('-i, --input <name=value>', 'an input every element shares; repeat for more', collect, [])
      .option('-q, --queue <name>', 'queue (partition)')
      .option('--nodes <n>', 'nodes')
      .option('--cores <n>', 'cores per node')
      .option('--walltime <minutes>', 'walltime in minutes')
      .option('--memory <mb>', 'memory in MB')
      .option('--priority <n>', 'your priority for its experiments among your own waiting ones, -5 to 5')
      .option('-n, --name <name>', 'sweep name (each experiment is named after it and its varied values)')
      .option('--draft', 'create the experiments without launching them')
      .option(...idempotencyKeyOption);

  withSettings(
    sweep
      .command('create')
      .description('create a sweep: one experiment per combination of the varied inputs, launched at once')
      .argument('<application>', 'application name (see `drover apps`)')
      .option('-r, --resource <name>', 'compute resource (see `drover resources`)', 'local'),
  )
    .addHelpText(
      'after',
      `
Examples:
  $ drover sweep create pi-monte-carlo --vary samples=1000,10000,100000 --vary seed=range:1:5:1   # 15 experiments
  $ drover sweep create heat-simulation --vary diffusivity=range:0.01:0.05:0.01 --vary steps=10,20,30,40,50 --zip`,
    )
    .action(async (application: string, _options, command: Command) => {
      const { options, client, api, json } = context<SweepOptions>(command);
      if (options.vary.length === 0)
        throw new CliError(
          'what varies?',
          ['give one --vary per varied input: --vary samples=1000,2000 or --vary seed=range:1:10:1'],
          exitCodes.usage,
        );
      const vary = parseVary(options.vary) as Record<string, Variation>;
      const inputs = await parseInputs(client, options.input);
      const created = await call(
        api.POST('/api/v1/sweeps', {
          params: { header: creationHeader(options.idempotencyKey) },
          body: {
            application,
            resource: options.resource ?? 'local',
            inputs,
            vary,
            combine: options.zip ? 'zip' : 'product',
            launch: !options.draft,
            ...settingsFrom(options),
          },
        }),
      );
      printCreated(created, json);
    });

  sweep
    .command('ls')
    .description('list your sweeps (all of the gateway for admins), newest first, with their elements per state')
    .option('-a, --app <name>', 'application')
    .option('--limit <n>', 'page size', '50')
    .option('--cursor <cursor>', 'the next page, from a previous --json listing')
    .action(async (_options, command: Command) => {
      const { options, api, json } = context<{ app?: string; limit: string; cursor?: string }>(command);
      const page = await call(
        api.GET('/api/v1/sweeps', {
          params: {
            query: { application: options.app || undefined, limit: Number(options.limit), cursor: options.cursor },
          },
        }),
      );
      if (json) return printJson(page);
      const rows = [['ID', 'APPLICATION', 'RESOURCE', 'ELEMENTS', 'STATES', 'CREATED', 'NAME']];
      for (const item of page.items)
        rows.push([
          item.id,
          item.application,
          item.resource,
          String(item.elementCount),
          countsText(item),
          time(item.createdAt),
          item.name,
        ]);
      process.stdout.write(table(rows));
      if (page.nextCursor)
        process.stdout.write(`more: drover sweep ls --limit ${options.limit} --cursor ${page.nextCursor}\n`);
    });

  sweep
    .command('show')
    .description('a sweep and the table of its elements: varied inputs, state, headline values, experiment id')
    .argument('<id>')
    .action(async (id: string, _options, command: Command) => {
      const { api, json } = context(command);
      const shown = await call(api.GET('/api/v1/sweeps/{id}', { params: { path: { id } } }));
      if (json) return printJson(shown);
      process.stdout.write(sweepText(shown));
    });

  sweep
    .command('launch')
    .description('launch every draft element of a sweep (made with --draft)')
    .argument('<id>')
    .action(async (id: string, _options, command: Command) => {
      const { api, json } = context(command);
      const done = await call(api.POST('/api/v1/sweeps/{id}/launch', { params: { path: { id } } }));
      if (json) return printJson(done);
      process.stdout.write(`launched ${done.count} element${done.count === 1 ? '' : 's'} of sweep ${id}\n`);
    });

  sweep
    .command('cancel')
    .description('cancel every unfinished element of a sweep; their jobs are killed, their logs and outputs come back')
    .argument('<id>')
    .action(async (id: string, _options, command: Command) => {
      const { api, json } = context(command);
      const done = await call(api.POST('/api/v1/sweeps/{id}/cancel', { params: { path: { id } } }));
      if (json) return printJson(done);
      process.stdout.write(`canceled ${done.count} element${done.count === 1 ? '' : 's'} of sweep ${id}\n`);
    });

  withSettings(
    sweep
      .command('clone')
      .description(
        'a new sweep from this one, with changes: --vary replaces an input’s values (name=none: no longer varied)',
      )
      .argument('<id>')
      .option('-r, --resource <name>', 'compute resource'),
  ).action(async (id: string, _options, command: Command) => {
    const { options, client, api, json } = context<SweepOptions>(command);
    const inputs = await parseInputs(client, options.input);
    const created = await call(
      api.POST('/api/v1/sweeps/{id}/clone', {
        params: { path: { id }, header: creationHeader(options.idempotencyKey) },
        body: {
          inputs,
          ...(options.vary.length > 0 ? { vary: parseVary(options.vary, true) } : {}),
          ...(options.zip ? { combine: 'zip' } : options.product ? { combine: 'product' } : {}),
          resource: options.resource,
          launch: !options.draft,
          ...settingsFrom(options),
        },
      }),
    );
    printCreated(created, json);
  });

  sweep
    .command('resubmit-failed')
    .description('resubmit the failed elements of a sweep: a new experiment for each, at the same index')
    .argument('<id>')
    .action(async (id: string, _options, command: Command) => {
      const { api, json } = context(command);
      const done = await call(api.POST('/api/v1/sweeps/{id}/resubmit-failed', { params: { path: { id } } }));
      if (json) return printJson(done);
      process.stdout.write(
        done.count === 0
          ? `no failed elements in sweep ${id}\n`
          : `resubmitted ${done.count} failed element${done.count === 1 ? '' : 's'} of sweep ${id}\n`,
      );
    });
}
