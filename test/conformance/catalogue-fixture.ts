/**
 * The catalogue every conformance suite that needs experiments starts from: one gateway
 * (`test`), one user (`ada`), a local resource and an `echo` application.
 */
import type { Store } from '../../src/store/port.ts';
import { upsertApplication, upsertResource } from '../../src/catalogue/catalogue.ts';
import { createUser, ensureGateway, type Principal } from '../../src/catalogue/users.ts';
import { createExperiment } from '../../src/experiments/commands.ts';

/** Seeds the catalogue into a migrated store and returns the user's principal. */
export async function seedCatalogue(store: Store): Promise<Principal> {
  const gatewayId = 'test';
  await ensureGateway(store, { id: gatewayId, name: 'Test gateway' });
  const user = await createUser(store, { gatewayId, name: 'ada', role: 'user' });
  await upsertResource(
    store,
    gatewayId,
    {
      name: 'local',
      kind: 'local',
      config: {
        scratchDir: '/tmp/drover-store-suite',
        queues: [{ name: 'normal', maxWalltimeMinutes: 60, maxCores: 4 }],
      },
    },
    { operator: true },
  );
  await upsertApplication(
    store,
    gatewayId,
    {
      name: 'echo',
      version: '1',
      title: 'Echo',
      inputs: [{ name: 'message', type: 'string', default: 'hello' }],
      deployments: { '*': { command: ['echo', '{{message}}'] } },
    },
    { operator: true },
  );
  return { userId: user.id, name: 'ada', gatewayId, role: 'user', operator: false };
}

/** Creates and launches an experiment: queued, its DAG planned, env-setup ready. */
export function launch(store: Store, principal: Principal) {
  return createExperiment(store, principal, { application: 'echo', resource: 'local' });
}
