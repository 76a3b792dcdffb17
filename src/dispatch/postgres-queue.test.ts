/** The dispatch suite (test/conformance/dispatch-suite.ts) on the Postgres queue over the PGlite store. */
import { dumpEmptyPgliteDatabase, openPgliteStore } from '../store/pglite-store.ts';
import { createPostgresQueue } from './postgres-queue.ts';
import { dispatchConformance } from '../../test/conformance/dispatch-suite.ts';

// Every test gets its own database, started from one empty dump rather than a new initdb.
let template: Promise<Blob> | undefined;
dispatchConformance('Postgres queue on PGlite', async () => {
  const store = await openPgliteStore({ template: await (template ??= dumpEmptyPgliteDatabase()) });
  return { store, dispatch: createPostgresQueue(store) };
});
