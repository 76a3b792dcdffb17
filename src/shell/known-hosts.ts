/**
 * OpenSSH known_hosts files: parsing, host matching and the host key check SshShell makes
 * before it sends anything to a login node.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** A public key as OpenSSH writes it: its type and the base64 of its wire-format blob. */
export interface PublicKey {
  /** Key type, e.g. `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`. */
  type: string;
  base64: string;
}

/** One key line of a known_hosts file. */
export interface KnownHostsEntry {
  /** `revoked` for `@revoked` lines, `cert-authority` for `@cert-authority`, else null. */
  marker: 'revoked' | 'cert-authority' | null;
  /** The host field: comma-separated patterns, or one hashed `|1|salt|hash` name. */
  hosts: string;
  key: PublicKey;
  /** 1-based line number, for messages. */
  line: number;
}

/** What a known_hosts file says about the key a host presented. */
export type HostKeyVerdict =
  | { status: 'trusted' }
  | { status: 'revoked'; line: number }
  /** The host is listed, but only with other keys (changed key, or the wrong host). */
  | { status: 'mismatch'; expected: Array<{ key: PublicKey; line: number }> }
  | { status: 'unknown' };

/**
 * Parses a known_hosts file. Comments, blank lines, lines with an unknown `@marker` and
 * lines too short to hold a host field, key type and key are skipped, as OpenSSH does.
 */
export function parseKnownHosts(text: string): KnownHostsEntry[] {
  const entries: KnownHostsEntry[] = [];
  text.split('\n').forEach((rawLine, index) => {
    const fields = rawLine.trim().split(/\s+/);
    if (fields[0] === '' || fields[0].startsWith('#')) return;
    let marker: KnownHostsEntry['marker'] = null;
    if (fields[0].startsWith('@')) {
      const name = fields.shift();
      if (name === '@revoked') marker = 'revoked';
      else if (name === '@cert-authority') marker = 'cert-authority';
      else return;
    }
    const [hosts, type, base64] = fields;
    if (!hosts || !type || !base64) return;
    entries.push({ marker, hosts, key: { type, base64 }, line: index + 1 });
  });
  return entries;
}

/**
 * The name OpenSSH records a host under: `host` on port 22, `[host]:port` on any other;
 * lower case, as ssh(1) lowercases the host name before looking it up (hashed names too).
 */
export function knownHostsName(host: string, port = 22): string {
  const name = host.toLowerCase();
  return port === 22 ? name : `[${name}]:${port}`;
}

/**
 * True when a known_hosts host field names `name` (from `knownHostsName`). A hashed field
 * `|1|salt|hash` matches when hash = HMAC-SHA1(salt, name). Otherwise the field is a comma
 * list of patterns with `*` and `?` wildcards, compared without regard to case; a matching
 * `!pattern` excludes the name whatever the other patterns say.
 */
export function hostMatches(hosts: string, name: string): boolean {
  if (hosts.startsWith('|1|')) {
    const [salt, hash] = hosts.slice(3).split('|');
    if (!salt || !hash) return false;
    const expected = Buffer.from(hash, 'base64');
    const actual = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest();
    return expected.length === actual.length && timingSafeEqual(expected, actual);
  }
  let matched = false;
  for (const pattern of hosts.split(',')) {
    const negated = pattern.startsWith('!');
    if (!wildcardMatches(negated ? pattern.slice(1) : pattern, name)) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

function wildcardMatches(pattern: string, name: string): boolean {
  const source = [...pattern]
    .map((character) =>
      character === '*' ? '.*' : character === '?' ? '.' : character.replace(/[.+^${}()|[\]\\]/g, '\\$&'),
    )
    .join('');
  return new RegExp(`^${source}$`, 'i').test(name);
}

/**
 * Checks the key `host`:`port` presented against known_hosts entries. A key on a
 * `@revoked` line is refused for every host (sshd(8): "must not ever be accepted");
 * `@cert-authority` lines are ignored (SshShell does not accept host certificates).
 * Otherwise the key is trusted when a line for the host has the same type and blob.
 */
export function checkHostKey(entries: KnownHostsEntry[], host: string, port: number, key: PublicKey): HostKeyVerdict {
  const revoked = entries.find((entry) => entry.marker === 'revoked' && sameKey(entry.key, key));
  if (revoked) return { status: 'revoked', line: revoked.line };
  const forHost = keysForHost(entries, host, port);
  if (forHost.some((entry) => sameKey(entry.key, key))) return { status: 'trusted' };
  if (forHost.length > 0) return { status: 'mismatch', expected: forHost.map(({ key, line }) => ({ key, line })) };
  return { status: 'unknown' };
}

/** The plain (unmarked) entries that name `host`:`port`. */
export function keysForHost(entries: KnownHostsEntry[], host: string, port: number): KnownHostsEntry[] {
  const name = knownHostsName(host, port);
  return entries.filter((entry) => entry.marker === null && hostMatches(entry.hosts, name));
}

/** True when two keys have the same type and blob. */
export function sameKey(a: PublicKey, b: PublicKey): boolean {
  return a.type === b.type && a.base64 === b.base64;
}

/**
 * Reads a key from its SSH wire-format blob (what ssh2's `hostVerifier` is given): the
 * blob starts with the key type as a length-prefixed string.
 *
 * @throws {RangeError} when the blob is too short to hold its type.
 */
export function publicKeyFromBlob(blob: Buffer): PublicKey {
  const length = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
  if (length < 1 || blob.length < 4 + length) throw new RangeError('not an SSH public key blob');
  return { type: blob.toString('latin1', 4, 4 + length), base64: blob.toString('base64') };
}

/**
 * Parses a public key as written in `*.pub` files and known_hosts: `type base64 [comment]`.
 *
 * @throws {RangeError} when the text has no type and key, or the key's blob names another type.
 */
export function parsePublicKey(text: string): PublicKey {
  const [type, base64] = text.trim().split(/\s+/);
  if (!type || !base64) throw new RangeError(`expected "type base64-key", got ${JSON.stringify(text)}`);
  const fromBlob = publicKeyFromBlob(Buffer.from(base64, 'base64'));
  if (fromBlob.type !== type) throw new RangeError(`key says ${type} but its blob holds a ${fromBlob.type} key`);
  return { type, base64 };
}

/** The SHA256 fingerprint as `ssh-keygen -l` prints it, e.g. `SHA256:mdc4ijRy...`. */
export function fingerprint(key: PublicKey): string {
  const digest = createHash('sha256').update(Buffer.from(key.base64, 'base64')).digest('base64');
  return `SHA256:${digest.replace(/=+$/, '')}`;
}

/** What a presented host key is checked against: a pinned key, or the entries of a known_hosts file. */
export type HostKeyTrust = { pinned: PublicKey } | { entries: KnownHostsEntry[]; file: string };

/** The key types `trust` accepts for `host`:`port` (none when known_hosts does not list it). */
export function expectedKeyTypes(trust: HostKeyTrust, host: string, port: number): string[] {
  if ('pinned' in trust) return [trust.pinned.type];
  return keysForHost(trust.entries, host, port).map((entry) => entry.key.type);
}

/**
 * Why the key `host`:`port` presented is refused, in words an operator can act on: the key
 * presented (type, fingerprint, base64) and what it was checked against (the pin, or the
 * known_hosts file with its line numbers). Undefined when the key is trusted.
 */
export function explainHostKeyRejection(
  trust: HostKeyTrust,
  host: string,
  port: number,
  key: PublicKey,
): string | undefined {
  const presented = `${host}:${port} presented ${key.type} ${fingerprint(key)} (${key.base64})`;
  if ('pinned' in trust) {
    if (sameKey(key, trust.pinned)) return undefined;
    return `${presented}, not the pinned hostKey ${trust.pinned.type} ${fingerprint(trust.pinned)}`;
  }
  const name = knownHostsName(host, port);
  const verdict = checkHostKey(trust.entries, host, port, key);
  switch (verdict.status) {
    case 'trusted':
      return undefined;
    case 'revoked':
      return `${presented}, which is marked @revoked in ${trust.file} (line ${verdict.line})`;
    case 'mismatch': {
      const listed = verdict.expected.map(
        (entry) => `${entry.key.type} ${fingerprint(entry.key)} (line ${entry.line})`,
      );
      return `${presented}, but ${trust.file} lists ${name} with ${listed.join(', ')}: the host key changed or this is another host`;
    }
    case 'unknown':
      return `${presented}, but ${trust.file} has no entry for ${name} (add one with ssh-keyscan -p ${port} ${host})`;
  }
}

/**
 * The ssh2 host key algorithms that make a server present a key of one of `types`, so a
 * host listed only with its RSA key is not asked for its Ed25519 key first. Types ssh2
 * cannot verify are left out; an empty result means "no preference".
 */
export function hostKeyAlgorithms(types: string[]): string[] {
  const algorithms: Record<string, string[]> = {
    'ssh-ed25519': ['ssh-ed25519'],
    'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
    'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
    'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
    'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
  };
  return [...new Set(types.flatMap((type) => algorithms[type] ?? []))];
}
