/**
 * The platform key and the encryption of stored credentials: what is stored is not the
 * key, decrypts only under the same platform key, gateway and name, and the platform key
 * file is made once with mode 0600.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../config.ts';
import ssh2 from 'ssh2';
import { decryptSecret, encryptSecret, generatePrivateKey } from './credentials.ts';
import { loadPlatformKey } from './platform-key.ts';

test('a stored secret decrypts only with its platform key and its own gateway and name', () => {
  const key = randomBytes(32);
  const secret = Buffer.from('-----BEGIN OPENSSH PRIVATE KEY-----\nsecret\n');
  const stored = encryptSecret(key, secret, 'drover-credential:alpha/login');
  assert.ok(!Buffer.from(stored, 'base64').includes(Buffer.from('OPENSSH')));
  assert.notEqual(encryptSecret(key, secret, 'drover-credential:alpha/login'), stored, 'a fresh IV each time');
  assert.deepEqual(decryptSecret(key, stored, 'drover-credential:alpha/login'), secret);
  assert.throws(
    () => decryptSecret(key, stored, 'drover-credential:beta/login'),
    'copied onto another gateway, it does not decrypt',
  );
  assert.throws(() => decryptSecret(randomBytes(32), stored, 'drover-credential:alpha/login'), 'another platform key');
  const tampered = Buffer.from(stored, 'base64');
  tampered[tampered.length - 1] ^= 1;
  assert.throws(
    () => decryptSecret(key, tampered.toString('base64'), 'drover-credential:alpha/login'),
    'a changed ciphertext',
  );
});

test('the platform key is made once in the data folder (mode 0600), or taken from the configuration', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'drover-platform-key-'));
  try {
    const first = loadPlatformKey({ dataDir, memory: false });
    assert.equal(first.length, 32);
    assert.equal((await stat(join(dataDir, 'platform-key'))).mode & 0o777, 0o600);
    assert.deepEqual(loadPlatformKey({ dataDir, memory: false }), first, 'the same key on the next start');
    assert.equal((await readFile(join(dataDir, 'platform-key'), 'utf8')).trim(), first.toString('base64'));
    const configured = randomBytes(32);
    assert.deepEqual(
      loadPlatformKey({ dataDir, memory: false, platformKey: configured.toString('base64') }),
      configured,
    );
    assert.throws(() => loadPlatformKey({ dataDir, memory: false, platformKey: 'c2hvcnQ=' }), ConfigError);
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('every key Drover generates can be read back to log in (ssh2 refuses about 1 in 300 of its own)', () => {
  // 1500 keys make a refused one nearly certain (about 99%) were it not drawn again.
  for (let index = 0; index < 1500; index += 1) {
    const parsed = ssh2.utils.parseKey(generatePrivateKey());
    assert.ok(!(parsed instanceof Error), `key ${index} reads back: ${parsed instanceof Error ? parsed.message : ''}`);
  }
});
