/**
 * Commands for admins and the platform operator: `gateways` (operator: create, ls,
 * disable, enable), `workers` (operator: the worker processes), `credentials` (a gateway's stored SSH keys) and `users` (create a user,
 * issue a new token). Each talks to the HTTP API; `--json` prints the API's JSON.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { call, CliError, connect, resolveConnection, type GlobalOptions } from './client.ts';
import { exitCodes } from './exit-codes.ts';
import { printJson, table, time } from './format.ts';
import { experimentDag } from '../domain/task.ts';

function context<Options extends object = object>(command: Command) {
  const options = command.optsWithGlobals<GlobalOptions & Options>();
  return { options, api: connect(resolveConnection(options)).api, json: Boolean(options.json) };
}

/** A duration as whole seconds (`0s`, `12s`) or minutes past a minute (`3m`). */
function seconds(ms: number): string {
  return ms < 60_000 ? `${Math.floor(ms / 1000)}s` : `${Math.floor(ms / 60_000)}m`;
}

/** Prints a token that is shown only once, with what to do with it. */
function printNewToken(who: string, token: string): void {
  process.stdout.write(`${who}\ntoken (shown once; store it now): ${token}\n`);
}

/** Adds the admin and operator commands to `program`. */
export function registerAdminCommands(program: Command): void {
  const gateways = program
    .command('gateways')
    .description('gateways of this Drover (platform operator: the bootstrap token)');
  gateways
    .command('create')
    .description("create a gateway and its first admin; prints the admin's token once")
    .argument('<id>', 'gateway id: lower-case letters, digits and dashes (its sign-in page is /?gateway=<id>)')
    .requiredOption('--name <name>', 'display name shown in its web UI')
    .option('--primary <colour>', 'primary colour, #rrggbb')
    .option('--accent <colour>', 'accent colour, #rrggbb')
    .option('--admin <name>', "the first admin's user name", 'admin')
    .action(async (id: string, _options, command: Command) => {
      const { options, api, json } = context<{ name: string; primary?: string; accent?: string; admin: string }>(
        command,
      );
      const theme = Object.fromEntries(
        Object.entries({ primary: options.primary, accent: options.accent }).filter(([, value]) => value !== undefined),
      );
      const created = await call(
        api.POST('/api/v1/gateways', { body: { id, name: options.name, theme, admin: options.admin } }),
      );
      if (json) return printJson(created);
      printNewToken(
        `created gateway ${created.gateway.id} (${created.gateway.name}) with admin ${created.admin.name}`,
        created.admin.token,
      );
      process.stdout.write(
        `sign-in page: ${resolveConnection(options).url}/?gateway=${encodeURIComponent(created.gateway.id)}\n`,
      );
    });
  gateways
    .command('ls')
    .description('list gateways')
    .action(async (_options, command: Command) => {
      const { api, json } = context(command);
      const { items } = await call(api.GET('/api/v1/gateways'));
      if (json) return printJson({ items });
      process.stdout.write(
        table([
          ['ID', 'NAME', 'STATE', 'CREATED'],
          ...items.map((gateway) => [
            gateway.id,
            gateway.name,
            gateway.disabled ? 'disabled' : 'enabled',
            time(gateway.createdAt),
          ]),
        ]),
      );
    });
  program
    .command('workers')
    .description('the worker processes: state, what they run and can run, last heartbeat (platform operator)')
    .action(async (_options, command: Command) => {
      const { api, json } = context(command);
      const { items } = await call(api.GET('/api/v1/workers'));
      if (json) return printJson({ items });
      if (items.length === 0) {
        process.stdout.write('no workers have registered: start one with `drover worker` (or `drover up`)\n');
        return;
      }
      process.stdout.write(
        table([
          ['ID', 'STATE', 'HOST', 'PID', 'VERSION', 'KINDS', 'RESOURCES', 'RUNNING', 'HEARTBEAT'],
          ...items.map((worker) => [
            worker.id,
            worker.state,
            worker.host,
            String(worker.pid),
            worker.version,
            experimentDag.every((node) => worker.kinds.includes(node.kind)) ? 'all' : worker.kinds.join(','),
            worker.resources === null ? 'all' : worker.resources.join(','),
            `${worker.runningTasks}/${worker.concurrency}`,
            `${seconds(worker.heartbeatAgeMs)} ago`,
          ]),
        ]),
      );
    });
  for (const [action, description] of [
    ['disable', "disable a gateway: its users' tokens are refused, its data is kept"],
    ['enable', 'enable a disabled gateway again'],
  ] as const) {
    gateways
      .command(action)
      .description(description)
      .argument('<id>')
      .action(async (id: string, _options, command: Command) => {
        const { api, json } = context(command);
        const gateway = await call(api.POST(`/api/v1/gateways/{id}/${action}`, { params: { path: { id } } }));
        if (json) return printJson(gateway);
        process.stdout.write(`${gateway.id}  ${gateway.disabled ? 'disabled' : 'enabled'}\n`);
      });
  }
  gateways
    .command('limits')
    .description(
      "show a gateway's caps on all its resources, or set them (replacing the old ones); launches beyond them wait queued",
    )
    .argument('<id>')
    .option('--experiments <n>', 'active experiments of all its users at once')
    .option('--cores <n>', 'cores in use at once')
    .option('--none', 'remove its caps')
    .action(async (id: string, _options, command: Command) => {
      const { options, api, json } = context<{ experiments?: string; cores?: string; none?: boolean }>(command);
      const count = (value: string | undefined, flag: string) => {
        if (value === undefined) return undefined;
        const parsed = Number(value);
        if (!Number.isInteger(parsed) || parsed < 1)
          throw new CliError(
            `${flag} must be a whole number of at least 1, got ${JSON.stringify(value)}`,
            [`drover gateways limits ${id} ${flag} 10`],
            exitCodes.usage,
          );
        return parsed;
      };
      const caps = {
        maxActiveExperiments: count(options.experiments, '--experiments'),
        maxActiveCores: count(options.cores, '--cores'),
      };
      const setting = options.none || caps.maxActiveExperiments !== undefined || caps.maxActiveCores !== undefined;
      const shown = setting
        ? await call(
            api.PUT('/api/v1/gateways/{id}/limits', { params: { path: { id } }, body: options.none ? {} : caps }),
          )
        : await call(api.GET('/api/v1/gateways/{id}/limits', { params: { path: { id } } }));
      if (json) return printJson(shown);
      process.stdout.write(
        `${id}  experiments ${shown.maxActiveExperiments ?? 'no cap'}, cores ${shown.maxActiveCores ?? 'no cap'}\n`,
      );
    });

  const credentials = program
    .command('credentials')
    .description("your gateway's stored SSH keys (admins); resources name them in ssh.credential");
  credentials
    .command('create')
    .description(
      'store a private key (--private-key-file) or have Drover generate one; prints the public key to install on the cluster',
    )
    .argument('<name>')
    .option(
      '--private-key-file <file>',
      'an unencrypted OpenSSH or PEM private key to upload (default: Drover generates an ed25519 key)',
    )
    .action(async (name: string, _options, command: Command) => {
      const { options, api, json } = context<{ privateKeyFile?: string }>(command);
      let privateKey: string | undefined;
      if (options.privateKeyFile) {
        privateKey = await readFile(options.privateKeyFile, 'utf8').catch((error: Error) => {
          throw new CliError(`cannot read ${options.privateKeyFile}: ${error.message}`, [], exitCodes.usage);
        });
      }
      const credential = await call(api.POST('/api/v1/credentials', { body: { name, privateKey } }));
      if (json) return printJson(credential);
      process.stdout.write(
        `stored credential ${credential.name}; add this line to ~/.ssh/authorized_keys of the cluster account:\n${credential.publicKey}\n`,
      );
    });
  credentials
    .command('ls')
    .description('list stored credentials with their public keys')
    .action(async (_options, command: Command) => {
      const { api, json } = context(command);
      const { items } = await call(api.GET('/api/v1/credentials'));
      if (json) return printJson({ items });
      process.stdout.write(
        table([
          ['NAME', 'CREATED', 'PUBLIC KEY'],
          ...items.map((credential) => [credential.name, time(credential.createdAt), credential.publicKey]),
        ]),
      );
    });
  credentials
    .command('rm')
    .description('delete a credential no resource uses')
    .argument('<name>')
    .action(async (name: string, _options, command: Command) => {
      const { api, json } = context(command);
      await call(api.DELETE('/api/v1/credentials/{name}', { params: { path: { name } } }));
      if (json) return printJson({ deleted: name });
      process.stdout.write(`deleted credential ${name}\n`);
    });

  const users = program.command('users').description('users of your gateway (admins), and new tokens');
  users
    .command('create')
    .description("create a user; prints the user's token once")
    .argument('<name>')
    .option('--admin', 'make the user an admin of the gateway')
    .action(async (name: string, _options, command: Command) => {
      const { options, api, json } = context<{ admin?: boolean }>(command);
      const user = await call(api.POST('/api/v1/users', { body: { name, role: options.admin ? 'admin' : 'user' } }));
      if (json) return printJson(user);
      printNewToken(`created ${user.role} ${user.name}`, user.token);
    });
  users
    .command('token')
    .description('issue a new token, ending the old one: yours (no name), or (admins) a user of your gateway')
    .argument('[name]')
    .action(async (name: string | undefined, _options, command: Command) => {
      const { api, json } = context(command);
      const target = name ?? (await call(api.GET('/api/v1/me'))).user.name;
      const user = await call(api.POST('/api/v1/users/{name}/token', { params: { path: { name: target } } }));
      if (json) return printJson(user);
      printNewToken(`new token for ${user.name}; the old one no longer works`, user.token);
    });
  users
    .command('share')
    .description("set a user's fair-share weight: 2 gives about twice the starts of a user of weight 1 (default 1)")
    .argument('<name>')
    .argument('<weight>', 'a number from 0.01 to 1000')
    .action(async (name: string, weight: string, _options, command: Command) => {
      const { api, json } = context(command);
      const value = Number(weight);
      if (!(value >= 0.01 && value <= 1000))
        throw new CliError(
          `weight must be a number from 0.01 to 1000, got ${JSON.stringify(weight)}`,
          ['drover users share alice 2'],
          exitCodes.usage,
        );
      const share = await call(
        api.PUT('/api/v1/users/{name}/share', { params: { path: { name } }, body: { weight: value } }),
      );
      if (json) return printJson(share);
      process.stdout.write(`${share.name}  weight ${share.weight}\n`);
    });
}
