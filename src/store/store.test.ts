/**
 * The state suite (test/conformance/state-suite.ts) on the embedded PostgreSQL server of the
 * quick tier: each test gets its own database, copied from the migrated template
 * (test/test-database.ts), dropped when its store closes.
 */
import { stateConformance } from '../../test/conformance/state-suite.ts';
import { openTestStore } from '../../test/test-database.ts';

stateConformance('PostgreSQL store on the embedded server', openTestStore);
