/**
 * The state suite (test/conformance/state-suite.ts) on the PostgreSQL store: each test gets a new database
 * (`drover_test_<random>`, test/fresh-postgres.ts), dropped when its store closes.
 */
import { stateConformance } from '../../test/conformance/state-suite.ts';
import { openFreshDatabase } from '../../test/fresh-postgres.ts';

stateConformance('PostgreSQL store', openFreshDatabase);
