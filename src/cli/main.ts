/**
 * `drover`: the server processes (up, api, worker, controller, migrate) and the user
 * commands (submit, ls, show, watch, cancel, clone, logs, sweep, ...).
 *
 * The server (main.ts: fastify, pg, ssh2, pino) and the configuration schema (zod, yaml) are
 * loaded by `import()` in the commands that need them: a user command only talks HTTP, and
 * loading the server would cost it several times its own run (bench/cli.bench.ts).
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import type { ConfigInput } from '../config.ts';
import type { Role } from '../main.ts';
import { CliError, credentialsFile } from './client.ts';
import { exitCodes } from './exit-codes.ts';
import { registerUserCommands } from './user-commands.ts';
import { registerAdminCommands } from './admin-commands.ts';
import { registerNotifyCommands } from './notify-commands.ts';
import { registerSweepCommands } from './sweep-commands.ts';
import { registerSignInCommands } from './sign-in-commands.ts';

const program = new Command('drover')
  .description('Drover: run scientific applications on compute resources for a science gateway')
  .option('--url <url>', 'API address for user commands (default: $DROVER_URL or what `drover up` saved)')
  .option('--token <token>', 'API token for user commands (default: $DROVER_TOKEN or what `drover up` saved)')
  .option('--json', 'print JSON for scripts')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

/** Options every server command shares, mapped onto the configuration. */
function serverCommand(name: string, description: string): Command {
  return program
    .command(name)
    .description(description)
    .option('-c, --config <file>', 'YAML configuration file (default: $DROVER_CONFIG)')
    .option('--data-dir <dir>', 'data folder (default: $DROVER_DATA_DIR or ~/.local/share/drover)')
    .option('--host <host>', 'address to listen on (default 127.0.0.1)')
    .option('-p, --port <port>', 'port to listen on (default 8080)')
    .option('--memory', 'embedded store in memory only (nothing survives a restart)')
    .option(
      '--catalogue <file>',
      'YAML catalogues of applications and resources to load, comma-separated ("" for none)',
    );
}

async function configFrom(options: Record<string, any>) {
  const { loadConfig } = await import('../config.ts');
  const overrides: ConfigInput = {
    dataDir: options.dataDir,
    host: options.host,
    port: options.port,
    memory: options.memory,
    catalogue: options.catalogue,
  };
  return loadConfig(overrides, process.env, options.config ?? process.env.DROVER_CONFIG);
}

async function runServer(roles: Role[], options: Record<string, any>): Promise<void> {
  const config = await configFrom(options);
  if (!config.databaseUrl && roles.length < 3) {
    throw new CliError('the embedded store lives inside one process', [
      'run everything in one process with `drover up`,',
      'or set DATABASE_URL to a PostgreSQL database to run api, worker and controller separately',
    ]);
  }
  const { startDrover } = await import('../main.ts');
  const drover = await startDrover(config, roles);
  if (drover.url) {
    const cliUrl = drover.url.replace('://0.0.0.0', '://127.0.0.1');
    if (drover.adminToken) {
      writeFileSync(credentialsFile(config.dataDir), JSON.stringify({ url: cliUrl, token: drover.adminToken }) + '\n', {
        mode: 0o600,
      });
    }
    process.stderr.write(
      [
        '',
        `Drover is running (${roles.join(', ')}) on the ${config.databaseUrl ? 'PostgreSQL' : config.memory ? 'in-memory embedded' : 'embedded'} store.`,
        `  web UI:       ${existsSync(join(config.webDir, 'index.html')) ? `${cliUrl}/   (sign in with the admin token${drover.adminTokenGenerated ? '' : ' from your configuration'})` : 'not built: run npm run build'}`,
        `  API:          ${cliUrl}/api/v1   (OpenAPI: ${cliUrl}/api/v1/openapi.json)`,
        // A token from the configuration is the operator's secret already: never echo it.
        ...(drover.adminToken && drover.adminTokenGenerated ? [`  admin token:  ${drover.adminToken}`] : []),
        config.databaseUrl ? '' : `  data folder:  ${config.memory ? '(memory)' : config.dataDir}`,
        `  try:          npx drover apps   |   npx drover submit pi-monte-carlo -i samples=2000000 --watch`,
        '',
      ].join('\n') + '\n',
    );
  } else {
    process.stderr.write(`Drover ${roles.join(', ')} started.\n`);
  }
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    drover.logger.info({ signal }, 'stopping');
    // A worker drains for up to worker.drainGraceMs; the rest of the stop gets 10 s more.
    const timer = setTimeout(() => process.exit(1), config.worker.drainGraceMs + 10_000);
    await drover.stop();
    clearTimeout(timer);
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

serverCommand(
  'up',
  'run everything in one process: API, controller and a worker, on the embedded store unless DATABASE_URL is set',
).action((options) => runServer(['api', 'controller', 'worker'], options));
serverCommand('api', 'run the HTTP API (needs DATABASE_URL)').action((options) => runServer(['api'], options));
serverCommand('worker', 'run a worker (needs DATABASE_URL)').action((options) => runServer(['worker'], options));
serverCommand('controller', 'run a controller (needs DATABASE_URL)').action((options) =>
  runServer(['controller'], options),
);
serverCommand('migrate', 'bring the store schema up to date and exit').action(async (options) => {
  const { openStore } = await import('../main.ts');
  const store = await openStore(await configFrom(options));
  await store.close();
  process.stderr.write('the schema is up to date\n');
});

registerUserCommands(program);
registerAdminCommands(program);
registerNotifyCommands(program);
registerSweepCommands(program);
registerSignInCommands(program);

// `drover ls | head`: the reader has gone, which is no error of ours; stop quietly.
for (const output of [process.stdout, process.stderr])
  output.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(exitCodes.ok);
    throw error;
  });

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode === 0 ? exitCodes.ok : exitCodes.usage;
  } else if (error instanceof CliError || (await isServerStartError(error))) {
    process.stderr.write(`drover: ${(error as Error).message}\n`);
    for (const detail of (error as CliError).details ?? []) process.stderr.write(`  ${detail}\n`);
    process.exitCode = (error as CliError).exitCode ?? exitCodes.refused;
  } else {
    process.stderr.write(`drover: ${(error as Error)?.stack ?? error}\n`);
    process.exitCode = exitCodes.refused;
  }
}

/** A bad configuration, an unreachable store or broker: reported as one line, without a stack. */
async function isServerStartError(error: unknown): Promise<boolean> {
  // Loaded only for an error that is not a CliError: user commands never load the schema.
  const [{ ConfigError }, { StoreError }, { DispatchError }] = await Promise.all([
    import('../config.ts'),
    import('../store/port.ts'),
    import('../dispatch/port.ts'),
  ]);
  return error instanceof ConfigError || error instanceof StoreError || error instanceof DispatchError;
}
