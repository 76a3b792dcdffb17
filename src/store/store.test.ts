/** The Store conformance suite on PGlite: a new in-memory database per test. */
import { dumpEmptyPgliteDatabase, openPgliteStore } from './pglite-store.ts';
import { runStoreSuite } from './store-suite.ts';

// Every test gets its own database, started from one empty dump rather than a new initdb.
let template: Promise<Blob> | undefined;
runStoreSuite('PGlite store', async () => openPgliteStore({ template: await (template ??= dumpEmptyPgliteDatabase()) }));
