import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  checkHostKey,
  fingerprint,
  hostKeyAlgorithms,
  hostMatches,
  knownHostsName,
  parseKnownHosts,
  parsePublicKey,
  publicKeyFromBlob,
  type PublicKey,
} from './known-hosts.ts';

/** A fresh Ed25519 public key in OpenSSH form, built from its wire-format blob. */
function makeKey(): PublicKey {
  const { publicKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
  return publicKeyFromBlob(Buffer.concat([sshString(Buffer.from('ssh-ed25519')), sshString(raw)]));
}

/** An SSH wire-format string: uint32 length, then the bytes. */
function sshString(value: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(value.length);
  return Buffer.concat([length, value]);
}

const line = (hosts: string, key: PublicKey, marker = '') =>
  `${marker ? `${marker} ` : ''}${hosts} ${key.type} ${key.base64} comment`;

const hasSshKeygen = (() => {
  try {
    execFileSync('ssh-keygen', ['-?'], { stdio: 'ignore' });
    return true;
  } catch (error) {
    return (error as { status?: number }).status !== undefined; // it ran, and complained about -?
  }
})();

function temporaryFile(text: string): string {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'drover-known-hosts-'));
  const file = path.join(directory, 'known_hosts');
  fs.writeFileSync(file, text);
  return file;
}

describe('parseKnownHosts', () => {
  test('skips comments, blank, short and unknown-marker lines; keeps markers and line numbers', () => {
    const key = makeKey();
    const text = [
      '# a comment',
      '',
      line('a.example', key),
      'b.example ssh-ed25519',
      line('*', key, '@revoked'),
      line('*.example', key, '@cert-authority'),
      line('c.example', key, '@unknown'),
      `  ${line('d.example', key)}  `,
    ].join('\n');
    const entries = parseKnownHosts(text);
    assert.deepEqual(
      entries.map((entry) => [entry.line, entry.marker, entry.hosts]),
      [
        [3, null, 'a.example'],
        [5, 'revoked', '*'],
        [6, 'cert-authority', '*.example'],
        [8, null, 'd.example'],
      ],
    );
    assert.deepEqual(entries[0].key, key);
  });
});

describe('checkHostKey', () => {
  const key = makeKey();
  const other = makeKey();

  test('plain names and comma lists, on port 22, without regard to case', () => {
    const entries = parseKnownHosts(line('login.example.org,10.0.0.1', key));
    assert.equal(checkHostKey(entries, 'login.example.org', 22, key).status, 'trusted');
    assert.equal(checkHostKey(entries, 'LOGIN.Example.org', 22, key).status, 'trusted');
    assert.equal(checkHostKey(entries, '10.0.0.1', 22, key).status, 'trusted');
    assert.equal(checkHostKey(entries, 'other.example.org', 22, key).status, 'unknown');
    // On another port OpenSSH looks for [host]:port, which this line does not name.
    assert.equal(checkHostKey(entries, 'login.example.org', 2222, key).status, 'unknown');
  });

  test('[host]:port entries name that port only', () => {
    const entries = parseKnownHosts(line('[127.0.0.1]:2222', key));
    assert.equal(knownHostsName('127.0.0.1', 2222), '[127.0.0.1]:2222');
    assert.equal(checkHostKey(entries, '127.0.0.1', 2222, key).status, 'trusted');
    assert.equal(checkHostKey(entries, '127.0.0.1', 22, key).status, 'unknown');
    assert.equal(checkHostKey(entries, '127.0.0.1', 2223, key).status, 'unknown');
  });

  test('wildcards and negated patterns', () => {
    assert.equal(hostMatches('*.example.org,!bad.example.org', 'login1.example.org'), true);
    assert.equal(hostMatches('*.example.org,!bad.example.org', 'bad.example.org'), false);
    assert.equal(hostMatches('login?.example.org', 'login2.example.org'), true);
    assert.equal(hostMatches('login?.example.org', 'login22.example.org'), false);
    assert.equal(hostMatches('[*.example.org]:2222', '[a.example.org]:2222'), true);
    // Dots are literal, not "any character".
    assert.equal(hostMatches('10.0.0.1', '10x0x0x1'), false);
  });

  test('a different key for a listed host is a mismatch naming the expected key and line', () => {
    const entries = parseKnownHosts(`# header\n${line('login.example.org', key)}`);
    assert.deepEqual(checkHostKey(entries, 'login.example.org', 22, other), {
      status: 'mismatch',
      expected: [{ key, line: 2 }],
    });
  });

  test('@revoked refuses the key even where a plain line trusts it; @cert-authority is ignored', () => {
    const revoked = parseKnownHosts([line('login.example.org', key), line('*', key, '@revoked')].join('\n'));
    assert.deepEqual(checkHostKey(revoked, 'login.example.org', 22, key), { status: 'revoked', line: 2 });
    const authority = parseKnownHosts(line('*.example.org', key, '@cert-authority'));
    assert.equal(checkHostKey(authority, 'login.example.org', 22, key).status, 'unknown');
  });

  test('hashed entries written by ssh-keygen -H', { skip: !hasSshKeygen && 'ssh-keygen is not installed' }, () => {
    const file = temporaryFile(`${line('login.example.org', key)}\n${line('[127.0.0.1]:2222', other)}\n`);
    execFileSync('ssh-keygen', ['-H', '-f', file], { stdio: 'ignore' });
    const entries = parseKnownHosts(fs.readFileSync(file, 'utf8'));
    assert.equal(entries.length, 2);
    assert.ok(
      entries.every((entry) => entry.hosts.startsWith('|1|')),
      'ssh-keygen -H hashed every name',
    );
    assert.equal(checkHostKey(entries, 'login.example.org', 22, key).status, 'trusted');
    assert.equal(checkHostKey(entries, 'Login.Example.ORG', 22, key).status, 'trusted');
    assert.equal(checkHostKey(entries, '127.0.0.1', 2222, other).status, 'trusted');
    assert.equal(checkHostKey(entries, '127.0.0.1', 2222, key).status, 'mismatch');
    assert.equal(checkHostKey(entries, '127.0.0.1', 22, other).status, 'unknown');
    assert.equal(checkHostKey(entries, 'login2.example.org', 22, key).status, 'unknown');
    fs.rmSync(path.dirname(file), { recursive: true });
  });
});

describe('keys', () => {
  test(
    'parsePublicKey checks the blob; fingerprint is what ssh-keygen -l prints',
    { skip: !hasSshKeygen && 'ssh-keygen is not installed' },
    () => {
      const key = makeKey();
      assert.deepEqual(parsePublicKey(`${key.type} ${key.base64} me@example`), key);
      assert.throws(() => parsePublicKey(`ssh-rsa ${key.base64}`), RangeError);
      assert.throws(() => parsePublicKey('ssh-ed25519'), RangeError);
      const file = temporaryFile(`${key.type} ${key.base64}\n`);
      const printed = execFileSync('ssh-keygen', ['-l', '-f', file], { encoding: 'utf8' });
      assert.equal(printed.split(' ')[1], fingerprint(key));
      fs.rmSync(path.dirname(file), { recursive: true });
    },
  );

  test('hostKeyAlgorithms asks for the RSA signature algorithms of ssh-rsa keys and drops unknown types', () => {
    assert.deepEqual(hostKeyAlgorithms(['ssh-rsa', 'ssh-ed25519', 'ssh-rsa']), [
      'rsa-sha2-512',
      'rsa-sha2-256',
      'ssh-rsa',
      'ssh-ed25519',
    ]);
    assert.deepEqual(hostKeyAlgorithms(['sk-ssh-ed25519@openssh.com']), []);
  });
});
