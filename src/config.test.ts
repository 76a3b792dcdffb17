/**
 * loadConfig: defaults, then the YAML file, then the environment, then flags; one error
 * naming every bad key; a frozen result. defaultConfig: the defaults alone.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, defaultConfig, defaultDataDir, loadConfig } from './config.ts';

const folder = mkdtempSync(join(tmpdir(), 'drover-config-test-'));
after(() => rmSync(folder, { recursive: true, force: true }));

/** A YAML config file holding `text`. */
function configFile(name: string, text: string): string {
  const path = join(folder, name);
  writeFileSync(path, text);
  return path;
}

describe('loadConfig', () => {
  test('dispatch: the Postgres queue by default, RabbitMQ from the environment, bad values named', () => {
    assert.deepEqual(loadConfig({}, {}).dispatch, {
      adapter: 'postgres',
      rabbitmqUrl: 'amqp://guest:guest@127.0.0.1:5672',
      rabbitmqQueuePrefix: 'drover',
    });
    const rabbitmq = loadConfig(
      {},
      {
        DROVER_DISPATCH: 'rabbitmq',
        DROVER_RABBITMQ_URL: 'amqps://drover:secret@mq.example/drover',
        DROVER_RABBITMQ_QUEUE_PREFIX: 'gateway-a',
        DROVER_DISPATCH_PREFETCH: '32',
      },
    );
    assert.deepEqual(rabbitmq.dispatch, {
      adapter: 'rabbitmq',
      rabbitmqUrl: 'amqps://drover:secret@mq.example/drover',
      rabbitmqQueuePrefix: 'gateway-a',
      prefetch: 32,
    });
    assert.throws(
      () =>
        loadConfig(
          {},
          { DROVER_DISPATCH: 'kafka', DROVER_RABBITMQ_URL: 'http://mq.example', DROVER_RABBITMQ_QUEUE_PREFIX: '../x' },
        ),
      (error: Error) =>
        error instanceof ConfigError &&
        /dispatch\.adapter/.test(error.message) &&
        /dispatch\.rabbitmqUrl: must be an amqp/.test(error.message) &&
        /dispatch\.rabbitmqQueuePrefix/.test(error.message),
    );
  });

  test('with nothing given, every default', () => {
    const config = loadConfig({}, {});
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.port, 8080);
    assert.equal(config.databaseUrl, undefined);
    assert.equal(config.memory, false);
    assert.match(config.catalogue, /catalogue[/\\]demo\.yaml$/);
    assert.deepEqual(config.gateway, {
      id: 'default',
      name: 'Drover',
      theme: { primary: '#1f6feb', accent: '#8250df' },
    });
    assert.deepEqual(config.worker, {
      concurrency: 64,
      leaseMs: 30_000,
      pollMs: 1000,
      exchangesInFlight: 2,
      maxWaiting: 1000,
      kinds: ['env-setup', 'stage-in', 'submit', 'monitor', 'stage-out', 'noop'],
      resources: null,
      heartbeatMs: 5000,
      drainGraceMs: 10_000,
    });
    assert.deepEqual(config.controller, { pollMs: 1000, leadershipMs: 15_000, fairShareHalfLifeHours: 168 });
    assert.equal(config.bodyLimitBytes, 1024 * 1024);
    assert.equal(config.uploadLimitBytes, 64 * 1024 * 1024);
    assert.deepEqual(config.limits, {
      writesPerWindow: 1200,
      writeWindowMs: 60_000,
      eventStreamsPerUser: 32,
      uploadQuotaBytes: 10 * 1024 ** 3,
    });
    assert.deepEqual(config.metrics, {});
    assert.equal(config.logLevel, 'info');
  });

  test('the data folder defaults to $XDG_DATA_HOME/drover, else ~/.local/share/drover', () => {
    assert.equal(loadConfig({}, {}).dataDir, defaultDataDir());
    const previous = process.env.XDG_DATA_HOME;
    try {
      process.env.XDG_DATA_HOME = '/data/home';
      assert.equal(defaultDataDir(), join('/data/home', 'drover'));
      delete process.env.XDG_DATA_HOME;
      assert.equal(defaultDataDir(), join(homedir(), '.local', 'share', 'drover'));
    } finally {
      if (previous === undefined) delete process.env.XDG_DATA_HOME;
      else process.env.XDG_DATA_HOME = previous;
    }
  });

  test('the file, then the environment, then the flags: each wins over the one before', () => {
    const file = configFile('layers.yaml', 'port: 1001\nhost: 0.0.0.0\nworker:\n  concurrency: 2\n  leaseMs: 5000\n');
    const environment = { DROVER_PORT: '1002', DROVER_WORKER_CONCURRENCY: '3' };
    const config = loadConfig({ port: 1003 }, environment, file);
    assert.equal(config.port, 1003);
    assert.equal(config.host, '0.0.0.0');
    assert.deepEqual(config.worker, {
      concurrency: 3,
      leaseMs: 5000,
      pollMs: 1000,
      exchangesInFlight: 2,
      maxWaiting: 1000,
      kinds: ['env-setup', 'stage-in', 'submit', 'monitor', 'stage-out', 'noop'],
      resources: null,
      heartbeatMs: 5000,
      drainGraceMs: 10_000,
    });
  });

  test('the file comes from $DROVER_CONFIG unless one is named', () => {
    const file = configFile('from-env.yaml', 'logLevel: debug\n');
    assert.equal(loadConfig({}, { DROVER_CONFIG: file }).logLevel, 'debug');
    assert.equal(
      loadConfig({}, { DROVER_CONFIG: file }, configFile('named.yaml', 'logLevel: warn\n')).logLevel,
      'warn',
    );
  });

  test('an empty file is no settings', () => {
    assert.equal(loadConfig({}, {}, configFile('empty.yaml', '')).port, 8080);
  });

  test('every environment variable sets its key, strings converted', () => {
    const config = loadConfig(
      {},
      {
        DROVER_HOST: '::',
        DROVER_PORT: '0',
        DROVER_DATA_DIR: '/var/lib/drover',
        DATABASE_URL: 'postgres://drover@db/drover',
        DROVER_CATALOGUE: '',
        DROVER_ADMIN_TOKEN: 'a'.repeat(16),
        DROVER_PLATFORM_KEY: 'key',
        DROVER_WORKER_CONCURRENCY: '4',
        DROVER_LEASE_MS: '6000',
        DROVER_WORKER_POLL_MS: '700',
        DROVER_WORKER_EXCHANGES_IN_FLIGHT: '1',
        DROVER_WORKER_MAX_WAITING: '0',
        DROVER_WORKER_KINDS: 'submit, monitor',
        DROVER_WORKER_RESOURCES: 'cluster,physics/hpc.2',
        DROVER_WORKER_HEARTBEAT_MS: '1500',
        DROVER_WORKER_DRAIN_GRACE_MS: '0',
        DROVER_CONTROLLER_POLL_MS: '800',
        DROVER_CONTROLLER_LEADERSHIP_MS: '9000',
        DROVER_FAIR_SHARE_HALF_LIFE_HOURS: '0.5',
        DROVER_GATEWAY_NAME: 'Science',
        DROVER_LOG_LEVEL: 'error',
        DROVER_WRITES_PER_WINDOW: '10',
        DROVER_WRITE_WINDOW_MS: '1000',
        DROVER_EVENT_STREAMS_PER_USER: '2',
        DROVER_UPLOAD_QUOTA_BYTES: '4096',
        DROVER_METRICS_TOKEN: 'm'.repeat(16),
        DROVER_METRICS_LISTEN: '127.0.0.1:9464',
        DROVER_SESSION_MAX_AGE_MS: '60000',
        DROVER_SESSION_IDLE_MS: '30000',
        DROVER_SIGN_IN_ALLOWED_NETWORKS: '10.0.0.0/8, 127.0.0.1',
        DROVER_SIGN_IN_DENIED_NETWORKS: '10.9.0.0/16',
        DROVER_SIGN_IN_ALLOW_HTTP_ISSUERS: 'true',
      },
    );
    assert.equal(config.host, '::');
    assert.equal(config.port, 0);
    assert.equal(config.dataDir, '/var/lib/drover');
    assert.equal(config.databaseUrl, 'postgres://drover@db/drover');
    // An empty variable is unset: the default catalogue stays.
    assert.match(config.catalogue, /demo\.yaml$/);
    assert.equal(config.adminToken, 'a'.repeat(16));
    assert.equal(config.platformKey, 'key');
    assert.deepEqual(config.worker, {
      concurrency: 4,
      leaseMs: 6000,
      pollMs: 700,
      exchangesInFlight: 1,
      maxWaiting: 0,
      kinds: ['submit', 'monitor'],
      resources: ['cluster', 'physics/hpc.2'],
      heartbeatMs: 1500,
      drainGraceMs: 0,
    });
    assert.deepEqual(config.controller, { pollMs: 800, leadershipMs: 9000, fairShareHalfLifeHours: 0.5 });
    assert.equal(config.gateway.name, 'Science');
    assert.equal(config.gateway.id, 'default');
    assert.equal(config.logLevel, 'error');
    assert.deepEqual(config.limits, {
      writesPerWindow: 10,
      writeWindowMs: 1000,
      eventStreamsPerUser: 2,
      uploadQuotaBytes: 4096,
    });
    assert.deepEqual(config.metrics, { token: 'm'.repeat(16), listen: '127.0.0.1:9464' });
    assert.deepEqual(config.signIn, {
      sessionMaxAgeMs: 60_000,
      sessionIdleMs: 30_000,
      allowedNetworks: ['10.0.0.0/8', '127.0.0.1'],
      deniedNetworks: ['10.9.0.0/16'],
      allowHttpIssuers: true,
    });
  });

  test('flags merge into nested keys instead of replacing them', () => {
    const file = configFile('nested.yaml', 'limits:\n  writesPerWindow: 5\n');
    const config = loadConfig({ limits: { eventStreamsPerUser: 3 } }, {}, file);
    assert.deepEqual(config.limits, {
      writesPerWindow: 5,
      writeWindowMs: 60_000,
      eventStreamsPerUser: 3,
      uploadQuotaBytes: 10 * 1024 ** 3,
    });
  });

  test('an undefined flag leaves the value below it', () => {
    assert.equal(loadConfig({ port: undefined }, { DROVER_PORT: '9000' }).port, 9000);
  });

  test('one ConfigError names every bad key', () => {
    assert.throws(
      () => loadConfig({}, { DROVER_PORT: '70000', DROVER_WORKER_CONCURRENCY: '0', DROVER_METRICS_LISTEN: 'nowhere' }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, /^invalid configuration:/);
        assert.match(error.message, /\n {2}port: /);
        assert.match(error.message, /\n {2}worker\.concurrency: /);
        assert.match(error.message, /\n {2}metrics\.listen: must be host:port, e\.g\. 127\.0\.0\.1:9464/);
        return true;
      },
    );
  });

  test("a worker's kinds and resources are checked: a typo names the key and what it takes", () => {
    assert.throws(
      () => loadConfig({}, { DROVER_WORKER_KINDS: 'submit,stagein', DROVER_WORKER_RESOURCES: 'ok, bad name' }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, /\n {2}worker\.kinds\.1: Invalid enum value\. Expected 'env-setup' \| 'stage-in'/);
        assert.match(error.message, /\n {2}worker\.resources\.1: a resource name, or <gateway>\/<name>/);
        return true;
      },
    );
    assert.throws(() => loadConfig({}, { DROVER_WORKER_KINDS: ' , ' }), /worker\.kinds: name at least one task kind/);
  });

  test('an unknown key is refused, not ignored', () => {
    assert.throws(
      () => loadConfig({}, {}, configFile('typo.yaml', 'prot: 8081\n')),
      /invalid configuration:[\s\S]*Unrecognized key/,
    );
  });

  test('a file that cannot be read or parsed is a ConfigError naming it', () => {
    const missing = join(folder, 'missing.yaml');
    assert.throws(
      () => loadConfig({}, {}, missing),
      (error: unknown) =>
        error instanceof ConfigError && error.message.startsWith(`cannot read config file ${missing}: `),
    );
    const broken = configFile('broken.yaml', 'port: [1\n');
    assert.throws(
      () => loadConfig({}, {}, broken),
      (error: unknown) =>
        error instanceof ConfigError && error.message.startsWith(`cannot read config file ${broken}: `),
    );
  });

  test('the configuration is frozen, nested objects too', () => {
    const config = loadConfig({}, {});
    assert.ok(Object.isFrozen(config));
    assert.throws(() => {
      (config as { port: number }).port = 1;
    }, TypeError);
    for (const nested of [
      config.worker,
      config.controller,
      config.limits,
      config.metrics,
      config.gateway,
      config.gateway.theme,
    ])
      assert.ok(Object.isFrozen(nested));
    assert.throws(() => {
      (config.worker as { concurrency: number }).concurrency = 1;
    }, TypeError);
  });
});

describe('defaultConfig', () => {
  test('is the defaults, whatever the environment says', () => {
    const previous = process.env.DROVER_WORKER_CONCURRENCY;
    process.env.DROVER_WORKER_CONCURRENCY = '99';
    try {
      assert.deepEqual(defaultConfig().worker, {
        concurrency: 64,
        leaseMs: 30_000,
        pollMs: 1000,
        exchangesInFlight: 2,
        maxWaiting: 1000,
        kinds: ['env-setup', 'stage-in', 'submit', 'monitor', 'stage-out', 'noop'],
        resources: null,
        heartbeatMs: 5000,
        drainGraceMs: 10_000,
      });
    } finally {
      if (previous === undefined) delete process.env.DROVER_WORKER_CONCURRENCY;
      else process.env.DROVER_WORKER_CONCURRENCY = previous;
    }
  });

  test('takes overrides, checked like flags', () => {
    assert.deepEqual(defaultConfig({ controller: { pollMs: 50 } }).controller, {
      pollMs: 50,
      leadershipMs: 15_000,
      fairShareHalfLifeHours: 168,
    });
    assert.throws(() => defaultConfig({ controller: { pollMs: -1 } }), ConfigError);
  });
});
