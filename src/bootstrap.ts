/**
 * Bootstrap: what every Drover process makes sure of at start, before its roles run: the
 * bootstrap gateway, its platform operator and the operator's token, and the catalogue
 * files. Idempotent, so every process of a deployment may run it.
 */
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from './config.ts';
import type { Store } from './store/port.ts';
import { loadCatalogueFile } from './catalogue/catalogue-file.ts';
import { ensureGateway, ensureOperator, markOperator, newToken, userExists } from './catalogue/users.ts';

/** The platform operator's token, when this process knows it, and whether Drover made it. */
export interface BootstrapResult {
  /** The token of user `admin` of the bootstrap gateway; null when another process made it. */
  adminToken: string | null;
  /** True when Drover made the token (then, and only then, it is printed at start). */
  adminTokenGenerated: boolean;
}

/**
 * Creates (or updates) the bootstrap gateway, its platform operator, and loads each
 * catalogue file of `config.catalogue` into it, in order, with `${scratch}` as the data
 * folder's `scratch`.
 */
export async function bootstrap(store: Store, config: Config): Promise<BootstrapResult> {
  await ensureGateway(store, config.gateway);
  const { token: adminToken, generated: adminTokenGenerated } = await bootstrapAdmin(store, config);
  for (const file of config.catalogue.split(',').filter((path) => path.trim() !== '')) {
    await loadCatalogueFile(store, config.gateway.id, file.trim(), join(config.dataDir, 'scratch'));
  }
  return { adminToken, adminTokenGenerated };
}

/**
 * Ensures the bootstrap gateway has its platform operator (user `admin`). The token comes
 * from the configuration, or is made once and kept (mode 600) in the data folder so later
 * starts can print it again. `generated` is false when the token came from the configuration.
 */
async function bootstrapAdmin(store: Store, config: Config): Promise<{ token: string | null; generated: boolean }> {
  if (config.adminToken) {
    await ensureOperator(store, config.gateway.id, config.adminToken);
    return { token: config.adminToken, generated: false };
  }
  const tokenFile = join(config.dataDir, 'admin-token');
  let token: string | null = null;
  if (!config.memory && existsSync(tokenFile)) token = readFileSync(tokenFile, 'utf8').trim();
  if (!token) {
    if (config.databaseUrl && (await userExists(store, config.gateway.id, 'admin'))) {
      // Another process made the token; the bootstrap gateway's `admin` is the operator
      // (also for a store that predates operators).
      await markOperator(store, config.gateway.id);
      return { token: null, generated: false };
    }
    token = newToken();
  }
  await ensureOperator(store, config.gateway.id, token);
  if (!config.memory) {
    writeFileSync(tokenFile, token + '\n', { mode: 0o600 });
    chmodSync(tokenFile, 0o600);
  }
  return { token, generated: true };
}
