/**
 * `drover notify`: your notification defaults (events, email address, webhook URL), your
 * webhook secret, one experiment's own choice, and the delivery log. Each talks to the
 * HTTP API; `--json` prints the API's JSON.
 */
import type { Command } from 'commander';
import { notificationEvents } from '../api-client/constants.ts';
import type { Delivery, ExperimentNotify, NotificationEvent, NotificationSettings } from '../api-client/types.ts';
import { call, CliError, connect, resolveConnection, type GlobalOptions } from './client.ts';
import { exitCodes } from './exit-codes.ts';
import { printJson, table, time } from './format.ts';

function context<Options extends object = object>(command: Command) {
  const options = command.optsWithGlobals<GlobalOptions & Options>();
  return { options, api: connect(resolveConnection(options)).api, json: Boolean(options.json) };
}

/**
 * `started,completed` as events; `none` (or an empty list) as no event.
 * @throws {CliError} (usage) naming an event that does not exist.
 */
export function parseEvents(text: string, flag: string): NotificationEvent[] {
  if (text.trim() === 'none') return [];
  const events = text
    .split(',')
    .map((event) => event.trim())
    .filter(Boolean);
  const unknown = events.filter((event) => !(notificationEvents as readonly string[]).includes(event));
  if (unknown.length > 0)
    throw new CliError(
      `${flag}: no event ${unknown.map((event) => JSON.stringify(event)).join(', ')}`,
      [`give some of ${notificationEvents.join(', ')} separated by commas, or none`],
      exitCodes.usage,
    );
  return events as NotificationEvent[];
}

function settingsText(settings: NotificationSettings): string {
  return [
    `events:   ${settings.events.length ? settings.events.join(', ') : 'none'}`,
    `email:    ${settings.email ?? '-'}${settings.emailAvailable ? '' : ' (this Drover sends no email)'}`,
    `webhook:  ${settings.webhookUrl ?? '-'}`,
    `secret:   ${settings.webhookSecretSet ? 'set (shown once, when made; `drover notify secret` makes a new one)' : '-'}`,
    '',
  ].join('\n');
}

function notifyText(notify: ExperimentNotify | null): string {
  if (!notify) return 'follows your defaults (drover notify)';
  const channels = (['email', 'webhook'] as const).filter((channel) => notify[channel] !== false);
  return `${notify.events ? (notify.events.length ? notify.events.join(', ') : 'no event') : 'your default events'} by ${channels.length ? channels.join(' and ') : 'no channel'}`;
}

/** Adds `drover notify` and its subcommands to `program`. */
export function registerNotifyCommands(program: Command): void {
  const notify = program
    .command('notify')
    .description('email and webhooks when your experiments start and end: settings, secret, log')
    .addHelpText(
      'after',
      `
Examples:
  $ drover notify set --events started,completed,failed --email ada@example.org
  $ drover notify set --webhook https://example.org/hooks/drover   # prints the signing secret once
  $ drover notify experiment <id> --events failed --no-webhook     # one experiment's own choice
  $ drover notify log --experiment <id>
  $ drover submit pi-monte-carlo --notify started,completed        # choose at submit`,
    );

  notify
    .command('show', { isDefault: true })
    .description('your notification settings')
    .action(async (_options, command: Command) => {
      const { api, json } = context(command);
      const settings = await call(api.GET('/api/v1/notifications/settings'));
      if (json) printJson(settings);
      else process.stdout.write(settingsText(settings));
    });

  notify
    .command('set')
    .description('change your notification defaults (what you leave out stays)')
    .option('--events <list>', `events that notify you: some of ${notificationEvents.join(',')}, or none`)
    .option('--email <address>', 'your email address')
    .option('--no-email', 'no email')
    .option('--webhook <url>', 'an http(s) URL that gets a signed POST per event')
    .option('--no-webhook', 'no webhook')
    .action(async (_options, command: Command) => {
      const { options, api, json } = context<{ events?: string; email?: string | boolean; webhook?: string | boolean }>(
        command,
      );
      // Commander sets a negatable option to true when neither form is given.
      const address = (value: string | boolean | undefined) =>
        value === false ? null : typeof value === 'string' ? value : undefined;
      const body = {
        ...(options.events !== undefined ? { events: parseEvents(options.events, '--events') } : {}),
        ...(address(options.email) !== undefined ? { email: address(options.email) } : {}),
        ...(address(options.webhook) !== undefined ? { webhookUrl: address(options.webhook) } : {}),
      };
      if (Object.keys(body).length === 0)
        throw new CliError(
          'nothing to change',
          ['give --events, --email, --no-email, --webhook or --no-webhook'],
          exitCodes.usage,
        );
      const settings = await call(api.PATCH('/api/v1/notifications/settings', { body }));
      if (json) return printJson(settings);
      process.stdout.write(settingsText(settings));
      if (settings.webhookSecret)
        process.stdout.write(`webhook secret (shown once; store it in your receiver now): ${settings.webhookSecret}\n`);
    });

  notify
    .command('secret')
    .description('make a new webhook signing secret (the old one stops at once); printed once')
    .action(async (_options, command: Command) => {
      const { api, json } = context(command);
      const made = await call(api.POST('/api/v1/notifications/settings/webhook-secret'));
      if (json) printJson(made);
      else process.stdout.write(`webhook secret (shown once; store it in your receiver now): ${made.webhookSecret}\n`);
    });

  notify
    .command('experiment')
    .description("one experiment's own notifications, over your defaults (for the events still to come)")
    .argument('<id>')
    .option('--events <list>', 'its events, or none')
    .option('--no-email', 'no email for it')
    .option('--no-webhook', 'no webhook for it')
    .option('--defaults', 'follow your defaults again')
    .action(async (id: string, _options, command: Command) => {
      const { options, api, json } = context<{ events?: string; email: boolean; webhook: boolean; defaults?: boolean }>(
        command,
      );
      const chosen: ExperimentNotify = {
        ...(options.events !== undefined ? { events: parseEvents(options.events, '--events') } : {}),
        ...(options.email === false ? { email: false } : {}),
        ...(options.webhook === false ? { webhook: false } : {}),
      };
      if (!options.defaults && Object.keys(chosen).length === 0)
        throw new CliError(
          'nothing to change',
          ['give --events, --no-email, --no-webhook or --defaults'],
          exitCodes.usage,
        );
      const experiment = await call(
        api.PATCH('/api/v1/experiments/{id}', {
          params: { path: { id } },
          body: { notify: options.defaults ? null : chosen },
        }),
      );
      if (json) printJson(experiment);
      else process.stdout.write(`${experiment.id}  notifications: ${notifyText(experiment.notify)}\n`);
    });

  notify
    .command('log')
    .description('your delivery log, newest first: channel, event, state, attempts, last answer')
    .option('--experiment <id>', "one experiment's deliveries")
    .option('--state <state>', 'pending, sending, delivered or failed')
    .option('--limit <n>', 'how many', '50')
    .action(async (_options, command: Command) => {
      const { options, api, json } = context<{ experiment?: string; state?: string; limit: string }>(command);
      const limit = Number(options.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 200)
        throw new CliError(`--limit must be 1 to 200, got ${JSON.stringify(options.limit)}`, [], exitCodes.usage);
      const page = await call(
        api.GET('/api/v1/notifications/deliveries', {
          params: {
            query: {
              experiment: options.experiment,
              state: options.state as Delivery['state'] | undefined,
              limit,
            },
          },
        }),
      );
      if (json) return printJson(page);
      if (page.items.length === 0) return void process.stdout.write('no notifications yet\n');
      process.stdout.write(
        table([
          ['TIME', 'EXPERIMENT', 'EVENT', 'CHANNEL', 'STATE', 'TRIES', 'LAST ANSWER'],
          ...page.items.map((delivery) => [
            time(delivery.occurredAt),
            delivery.experimentName,
            delivery.event,
            delivery.channel,
            delivery.state,
            String(delivery.attempts),
            (delivery.lastError ?? delivery.lastStatus ?? '-').slice(0, 60),
          ]),
        ]),
      );
    });
}
