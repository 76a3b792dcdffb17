/**
 * `drover tokens` (your API tokens: create, ls, revoke) and `drover identity-provider`
 * (admins: the gateway's OpenID Connect provider: set, show, rm). Each talks to the HTTP
 * API; `--json` prints the API's JSON. A client secret is read from a file or the
 * environment, never from the command line, where other users of the host could see it.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { IdentityProvider, IdentityProviderRequest } from '../api-client/types.ts';
import { call, CliError, connect, resolveConnection, type GlobalOptions } from './client.ts';
import { exitCodes } from './exit-codes.ts';
import { printJson, table, time } from './format.ts';

function context<Options extends object = object>(command: Command) {
  const options = command.optsWithGlobals<GlobalOptions & Options>();
  return { options, api: connect(resolveConnection(options)).api, json: Boolean(options.json) };
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

function providerText(provider: IdentityProvider): string {
  return [
    `name:          ${provider.displayName}   (the sign-in button says "Sign in with ${provider.displayName}")`,
    `issuer:        ${provider.issuer}`,
    `client id:     ${provider.clientId}`,
    `client secret: ${provider.clientSecretSet ? 'set (never shown)' : 'none (a public client)'}`,
    `scopes:        ${provider.scopes.join(' ')}`,
    `user claim:    ${provider.userClaim}`,
    `domains:       ${provider.allowedDomains.length ? provider.allowedDomains.join(', ') : 'any'}`,
    `required:      ${provider.requiredClaim ? `${provider.requiredClaim.name} = ${provider.requiredClaim.value}` : 'none'}`,
    `redirect URI to register at the provider: ${provider.redirectUri}`,
  ].join('\n');
}

/** Adds `tokens` and `identity-provider` to `program`. */
export function registerSignInCommands(program: Command): void {
  const tokens = program.command('tokens').description('your API tokens, for scripts and the CLI');
  tokens
    .command('create')
    .description('make a named token; prints it once')
    .argument('<name>', 'what the token is for, e.g. "laptop"')
    .action(async (name: string, _options, command: Command) => {
      const { api, json } = context(command);
      const made = await call(api.POST('/api/v1/me/tokens', { body: { name } }));
      if (json) return printJson(made);
      process.stdout.write(
        `created token ${made.name}\ntoken (shown once; store it now): ${made.token}\nuse it as DROVER_TOKEN=<token> or --token; revoke it with: drover tokens revoke ${JSON.stringify(made.name)}\n`,
      );
    });
  tokens
    .command('ls')
    .description('list your tokens with when each was created and last used')
    .action(async (_options, command: Command) => {
      const { api, json } = context(command);
      const { items } = await call(api.GET('/api/v1/me/tokens'));
      if (json) return printJson({ items });
      process.stdout.write(
        table([
          ['NAME', 'CREATED', 'LAST USED', 'ID'],
          ...items.map((token) => [
            token.name,
            time(token.createdAt),
            token.lastUsedAt ? time(token.lastUsedAt) : 'never',
            token.id,
          ]),
        ]),
      );
    });
  tokens
    .command('revoke')
    .description('revoke one of your tokens, by name or id: it is refused from now on')
    .argument('<name-or-id>')
    .action(async (which: string, _options, command: Command) => {
      const { api, json } = context(command);
      const { items } = await call(api.GET('/api/v1/me/tokens'));
      const token = items.find((item) => item.id === which) ?? items.find((item) => item.name === which);
      if (!token)
        throw new CliError(`you have no token named ${JSON.stringify(which)}`, ['list them with: drover tokens ls']);
      await call(api.DELETE('/api/v1/me/tokens/{id}', { params: { path: { id: token.id } } }));
      if (json) return printJson({ revoked: token.id, name: token.name });
      process.stdout.write(`revoked token ${token.name}\n`);
    });

  const provider = program
    .command('identity-provider')
    .description("your gateway's OpenID Connect provider for signing in (admins)");
  provider
    .command('set')
    .description(
      'set the provider (Drover checks its discovery document); the client secret comes from --client-secret-file or $DROVER_OIDC_CLIENT_SECRET (left out: the stored one stays)',
    )
    .requiredOption(
      '--issuer <url>',
      'issuer URL (Keycloak: https://<host>/realms/<realm>; CILogon: https://cilogon.org)',
    )
    .requiredOption('--client-id <id>', 'the client id registered at the provider')
    .option('--client-secret-file <file>', 'a file holding the client secret')
    .option('--public-client', 'no client secret (PKCE only); removes a stored one')
    .option('--display-name <name>', 'the sign-in button says "Sign in with <name>"')
    .option('--scopes <scopes>', 'scopes, space- or comma-separated (default: openid profile email)')
    .option(
      '--user-claim <claim>',
      'the claim naming the user in the gateway (default sub; often email or preferred_username)',
    )
    .option('--allowed-domain <domain>', 'admit only verified e-mail addresses at this domain (repeatable)', collect)
    .option(
      '--required-claim <name=value>',
      'admit only identities whose claim holds this value (e.g. groups=hpc-users)',
    )
    .action(async (_options, command: Command) => {
      const { options, api, json } = context<{
        issuer: string;
        clientId: string;
        clientSecretFile?: string;
        publicClient?: boolean;
        displayName?: string;
        scopes?: string;
        userClaim?: string;
        allowedDomain?: string[];
        requiredClaim?: string;
      }>(command);
      let clientSecret: string | null | undefined = process.env.DROVER_OIDC_CLIENT_SECRET || undefined;
      if (options.clientSecretFile) {
        clientSecret = (
          await readFile(options.clientSecretFile, 'utf8').catch((error: Error) => {
            throw new CliError(`cannot read ${options.clientSecretFile}: ${error.message}`, [], exitCodes.usage);
          })
        ).trim();
      }
      if (options.publicClient) clientSecret = null;
      let requiredClaim: { name: string; value: string } | undefined;
      if (options.requiredClaim) {
        const separator = options.requiredClaim.indexOf('=');
        if (separator <= 0)
          throw new CliError('--required-claim: give it as name=value, e.g. groups=hpc-users', [], exitCodes.usage);
        requiredClaim = {
          name: options.requiredClaim.slice(0, separator),
          value: options.requiredClaim.slice(separator + 1),
        };
      }
      const body: IdentityProviderRequest = {
        issuer: options.issuer,
        clientId: options.clientId,
        ...(clientSecret !== undefined ? { clientSecret } : {}),
        ...(options.displayName ? { displayName: options.displayName } : {}),
        ...(options.scopes ? { scopes: options.scopes.split(/[\s,]+/).filter(Boolean) } : {}),
        ...(options.userClaim ? { userClaim: options.userClaim } : {}),
        ...(options.allowedDomain ? { allowedDomains: options.allowedDomain } : {}),
        ...(requiredClaim ? { requiredClaim } : {}),
      };
      const stored = await call(api.PUT('/api/v1/identity-provider', { body }));
      if (json) return printJson(stored);
      process.stdout.write(`${providerText(stored)}\n`);
    });
  provider
    .command('show')
    .description('show the provider (never its client secret)')
    .action(async (_options, command: Command) => {
      const { api, json } = context(command);
      const stored = await call(api.GET('/api/v1/identity-provider'));
      if (json) return printJson(stored);
      process.stdout.write(`${providerText(stored)}\n`);
    });
  provider
    .command('rm')
    .description('remove the provider: the sign-in page stops offering it; accounts and tokens stay')
    .action(async (_options, command: Command) => {
      const { api, json } = context(command);
      await call(api.DELETE('/api/v1/identity-provider'));
      if (json) return printJson({ removed: true });
      process.stdout.write('removed the identity provider\n');
    });
}
