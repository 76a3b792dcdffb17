/**
 * The import-boundary check of `npm run lint` (dependency-cruiser): the layering of README.md's
 * "How it is built" as rules, so an arrow that runs back up, or a cycle, fails CI.
 *
 * Layers, lowest first; a layer imports only what its rule below lists:
 *   domain, config < store, shell < state < batch < dispatch < files, credentials, catalogue
 *   < experiments < resources < worker, controller < api < cli < main.ts (composition root).
 * notifications/ sits beside worker and controller: above state/ and credentials/, below api/.
 * api-client/ (the typed client generated from the OpenAPI document) stands apart: it imports
 * nothing from src/, and the CLI and the web UI import it.
 * Ports (`src/<folder>/port.ts`) import only the domain and other ports. Only resources/ and
 * main.ts pick adapters. Test files (`*.test.ts`) may import anything; production code never
 * imports test/, bench/ or scripts/. Type-only imports count like any other import.
 *
 * Each rule is "files in X may import only Y": `to.pathNot` is the allowed list, so a new
 * folder or file must be placed in a rule before anything may import it.
 */

const domain = '^src/domain/';
// The configuration schema and the default data folder (apart, so the CLI reads it without zod).
const config = '^src/(config|data-dir)[.]ts$';
const anyPort = '^src/[^/]+/port[.]ts$';
const storePort = '^src/store/port[.]ts$';
const dispatchPort = '^src/dispatch/port[.]ts$';
const batchPort = '^src/batch/port[.]ts$';
// Shell modules that are not adapters (the port, quoting, known hosts, file opening).
const shellNotAdapter = '^src/shell/(?!(local-shell|ssh-shell)[.]ts$)';
// Batch modules shared by the scheduler adapters (the port, the job-script rules), not the
// adapters in local/, slurm/ and pbs/.
const batchNotAdapter = '^src/batch/[^/]+[.]ts$';
// The typed API client and its generated types: what the CLI and the web UI share.
const apiClient = '^src/api-client/';

// Production code in src/: the layering rules apply to it, not to the tests beside it.
const production = { pathNot: '[.]test[.]ts$' };
const from = (path) => ({ path, ...production });

/** "Files in `path` may import only `allowed` (regular expressions) inside src/." */
function onlyImports(name, comment, path, allowed) {
  return { name, comment, severity: 'error', from: from(path), to: { path: '^src/', pathNot: allowed } };
}

module.exports = {
  forbidden: [
    onlyImports('domain-is-pure', 'domain/ is pure: it imports only domain/.', domain, [domain]),
    onlyImports(
      'config-is-a-leaf',
      'config.ts (the configuration schema) and data-dir.ts import only domain/ and each other.',
      config,
      [domain, config],
    ),
    onlyImports(
      'ports-import-only-domain-and-ports',
      'A port owns its types: it imports only domain/ and other ports, never an adapter or a state module.',
      anyPort,
      [domain, anyPort],
    ),
    onlyImports(
      'store-imports-domain',
      'store/ (port, adapters, migrate) imports only domain/ and itself.',
      '^src/store/',
      [domain, '^src/store/'],
    ),
    onlyImports(
      'shell-imports-domain',
      'shell/ (port, adapters, quoting, known hosts) imports only domain/ and itself.',
      '^src/shell/',
      [domain, '^src/shell/'],
    ),
    onlyImports(
      'state-imports-domain-and-store-port',
      'state/ imports domain/, the Store port and the BatchScheduler port (the job observations it records).',
      '^src/state/',
      [domain, '^src/state/', storePort, batchPort],
    ),
    onlyImports(
      'batch-imports-domain-and-shell-port',
      'batch/ imports domain/, the Shell port and shell helpers, never a shell adapter (resources/ picks the shell).',
      '^src/batch/',
      [domain, '^src/batch/', shellNotAdapter],
    ),
    {
      name: 'batch-adapters-stay-apart',
      comment: 'A scheduler adapter (local/, slurm/, pbs/) never imports another one: shared code lives in batch/.',
      severity: 'error',
      from: from('^src/batch/(local|slurm|pbs)/'),
      to: { path: '^src/batch/(local|slurm|pbs)/', pathNot: '^src/batch/$1/' },
    },
    onlyImports(
      'dispatch-imports-state-and-store-port',
      'dispatch/ adapters import domain/, state/ and the Store port (the port itself: see ports-import-only-domain-and-ports).',
      '^src/dispatch/',
      [domain, '^src/dispatch/', '^src/state/', storePort],
    ),
    onlyImports('files-imports-domain', 'files/ imports only domain/ and the Store port.', '^src/files/', [
      domain,
      '^src/files/',
      storePort,
    ]),
    onlyImports(
      'credentials-imports-domain-and-store-port',
      'credentials/ imports domain/, the Store port and config.ts (the platform key).',
      '^src/credentials/',
      [domain, config, '^src/credentials/', storePort],
    ),
    onlyImports(
      'catalogue-imports-domain-and-store-port',
      'catalogue/ imports domain/, the Store port and the job-script rules of batch/ that a catalogue entry must satisfy.',
      '^src/catalogue/',
      [domain, '^src/catalogue/', storePort, batchNotAdapter],
    ),
    onlyImports(
      'experiments-imports-state-and-catalogue',
      'experiments/ imports domain/, state/, catalogue/, files/, the Store port and the BatchScheduler port (the job spec it builds).',
      '^src/experiments/',
      [domain, '^src/(experiments|state|catalogue|files)/', storePort, batchPort],
    ),
    onlyImports(
      'resources-imports-batch-and-shell',
      'resources/ is the per-resource factory: it imports domain/, config.ts, batch/ and shell/ (adapters included).',
      '^src/resources/',
      [domain, config, '^src/(resources|batch|shell)/'],
    ),
    onlyImports(
      'roles-import-ports-and-state',
      'worker/ and controller/ import ports, domain/, config.ts, state/, experiments/, catalogue/, files/ and the type of resources/: never an adapter.',
      '^src/(worker|controller)/',
      [domain, config, anyPort, '^src/(worker|controller)/', '^src/(state|experiments|catalogue|files|resources)/'],
    ),
    onlyImports(
      'notifications-imports-state-and-credentials',
      "notifications/ (settings, the delivery log, the deliverer and its senders) imports domain/, config.ts, ports, state/ and credentials/ (the secret's encryption).",
      '^src/notifications/',
      [domain, config, anyPort, '^src/(notifications|state|credentials)/'],
    ),
    onlyImports(
      'sign-in-imports-catalogue-and-credentials',
      "sign-in/ (identity providers, the OpenID Connect flow, sessions) imports domain/, config.ts, the Store port, catalogue/ (users), credentials/ (the client secret's encryption) and the address policy of notifications/.",
      '^src/sign-in/',
      [domain, config, storePort, '^src/(sign-in|catalogue|credentials)/', '^src/notifications/address-policy[.]ts$'],
    ),
    {
      name: 'senders-only-in-main',
      comment: 'The email and webhook senders are adapters: only main.ts picks them.',
      severity: 'error',
      from: from('^src/(?!main[.]ts$|notifications/)'),
      to: { path: '^src/notifications/(email|webhook)-sender[.]ts$' },
    },
    onlyImports(
      'api-imports-no-adapter',
      'api/ imports ports, domain/, config.ts, state/, experiments/, catalogue/, credentials/, files/, notifications/ (not its senders), sign-in/, shell helpers and the type of resources/: never a store, dispatch, batch or shell adapter.',
      '^src/api/',
      [
        domain,
        config,
        anyPort,
        shellNotAdapter,
        '^src/(api|state|experiments|catalogue|credentials|files|resources|notifications|sign-in)/',
      ],
    ),
    {
      name: 'resources-only-as-a-type',
      comment: 'worker/, controller/ and api/ take the ResourceRegistry from main.ts: they import its type only.',
      severity: 'error',
      from: from('^src/(worker|controller|api)/'),
      to: { path: '^src/resources/', dependencyTypesNot: ['type-only'] },
    },
    onlyImports(
      'api-client-imports-nothing-from-src',
      'api-client/ (the typed client and its generated types) is for callers over HTTP: it imports only itself, never server code.',
      apiClient,
      [apiClient],
    ),
    onlyImports(
      'cli-talks-http',
      'cli/ talks to the API over HTTP: it imports only domain/, config.ts and the typed client of api-client/.',
      '^src/cli/(?!main[.]ts$)',
      [domain, config, '^src/cli/', apiClient],
    ),
    onlyImports(
      'cli-main-starts-roles-through-main',
      'cli/main.ts (the drover command) also starts the roles through main.ts and reports a StoreError or a DispatchError.',
      '^src/cli/main[.]ts$',
      [domain, config, '^src/cli/', apiClient, '^src/main[.]ts$', storePort, dispatchPort],
    ),
    {
      name: 'src-not-to-tests',
      comment: 'Production code never imports tests, benchmarks or scripts.',
      severity: 'error',
      from: from('^src/'),
      to: { path: '^(test|bench|scripts)/' },
    },
    {
      name: 'web-talks-http',
      comment:
        'The web UI talks to the API over HTTP through the typed client: of src/ it imports only api-client/, and src/ never imports it.',
      severity: 'error',
      from: { path: '^(web|src)/' },
      to: { path: '^(web|src)/', pathNot: ['^$1/', apiClient] },
    },
    {
      name: 'no-circular',
      comment: 'This import is part of a cycle: move the shared part down a layer.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'This import cannot be resolved to a file or a package in package.json.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
    {
      name: 'src-not-to-dev-dependencies',
      comment: 'Production code imports only "dependencies": a devDependency is missing after `npm ci --omit=dev`.',
      severity: 'error',
      from: from('^src/'),
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(node_modules|dist)/' },
    // Count `import type` as a dependency: a type-only back-arrow is still a back-arrow.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.tsx', '.d.ts', '.js', '.mjs', '.cjs', '.json'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
