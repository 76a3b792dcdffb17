/** The state suite (test/conformance/state-suite.ts) on the PGlite store: a new in-memory database per test. */
import { dumpEmptyPgliteDatabase, openPgliteStore } from './pglite-store.ts';
import { stateConformance } from '../../test/conformance/state-suite.ts';

// Every test gets its own database, started from one empty dump rather than a new initdb.
let template: Promise<Blob> | undefined;
stateConformance('PGlite store', async () =>
  openPgliteStore({ template: await (template ??= dumpEmptyPgliteDatabase()) }),
);
