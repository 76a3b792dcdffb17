/** The dispatch suite (test/conformance/dispatch-suite.ts) on the Postgres queue over PostgreSQL: a new database per test. */
import { createPostgresQueue } from './postgres-queue.ts';
import { dispatchConformance } from '../../test/conformance/dispatch-suite.ts';
import { openFreshDatabase } from '../../test/fresh-postgres.ts';

dispatchConformance('Postgres queue on PostgreSQL', async () => {
  const store = await openFreshDatabase();
  return { store, dispatch: createPostgresQueue(store) };
});
