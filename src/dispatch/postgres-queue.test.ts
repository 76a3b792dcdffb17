/**
 * The dispatch suite (test/conformance/dispatch-suite.ts) on the Postgres queue over the
 * embedded PostgreSQL server of the quick tier: a database copied from the migrated
 * template per test (test/test-database.ts).
 */
import { createPostgresQueue } from './postgres-queue.ts';
import { dispatchConformance } from '../../test/conformance/dispatch-suite.ts';
import { openTestStore } from '../../test/test-database.ts';

dispatchConformance('Postgres queue on the embedded server', async () => {
  const store = await openTestStore();
  return { store, dispatch: createPostgresQueue(store) };
});
