/**
 * SSH credentials a gateway stores in Drover instead of key files on the host: uploaded
 * by an admin or generated here, kept encrypted (AES-256-GCM under the platform key),
 * never returned by the API. A resource's ssh settings name one; SshShell gets the
 * decrypted key in memory at each connect.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import ssh2 from 'ssh2';
import { z } from 'zod';
import { ConflictError, NotFoundError, ValidationError } from '../domain/errors.ts';
import type { Queryable } from '../store/port.ts';

/** What the API shows of a credential: never the private key. */
export interface CredentialInfo {
  name: string;
  kind: 'ssh-key';
  /** OpenSSH public key line to install in the cluster account's authorized_keys. */
  publicKey: string;
  createdAt: string;
}

const credentialRequestSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'use lower-case letters, digits, dot, dash or underscore'),
    /** An unencrypted OpenSSH or PEM private key; when absent Drover generates an ed25519 key. */
    privateKey: z.string().min(1).max(16_384).optional(),
  })
  .strict();

// ssh2 is CommonJS: its named exports are not visible to ESM imports.
const sshUtils = ssh2.utils;

const ivBytes = 12;
const tagBytes = 16;

/**
 * Encrypts `plain` with AES-256-GCM. `context` (gateway and name) is authenticated with it,
 * so a stored secret copied onto another gateway's row does not decrypt.
 */
export function encryptSecret(platformKey: Buffer, plain: Buffer, context: string): string {
  const iv = randomBytes(ivBytes);
  const cipher = createCipheriv('aes-256-gcm', platformKey, iv);
  cipher.setAAD(Buffer.from(context));
  const body = Buffer.concat([cipher.update(plain), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
}

/** Decrypts what encryptSecret made. @throws {Error} when the key or context is wrong or the data was changed. */
export function decryptSecret(platformKey: Buffer, stored: string, context: string): Buffer {
  const data = Buffer.from(stored, 'base64');
  const decipher = createDecipheriv('aes-256-gcm', platformKey, data.subarray(0, ivBytes));
  decipher.setAAD(Buffer.from(context));
  decipher.setAuthTag(data.subarray(ivBytes, ivBytes + tagBytes));
  return Buffer.concat([decipher.update(data.subarray(ivBytes + tagBytes)), decipher.final()]);
}

const secretContext = (gatewayId: string, name: string) => `drover-credential:${gatewayId}/${name}`;

/**
 * Stores a credential for a gateway: the given private key, or a new ed25519 key pair.
 * @throws {ValidationError} naming `privateKey` when it is not an unencrypted private key.
 * @throws {ConflictError} when the gateway already has a credential of that name.
 */
export async function createCredential(
  db: Queryable,
  platformKey: Buffer,
  gatewayId: string,
  raw: unknown,
): Promise<CredentialInfo> {
  const parsed = credentialRequestSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    throw new ValidationError(
      'invalid credential',
      parsed.error.issues.map((issue) => ({ field: issue.path.join('.') || 'credential', message: issue.message })),
    );
  }
  const { name } = parsed.data;
  const privateKey = parsed.data.privateKey ?? generatePrivateKey();
  const key = sshUtils.parseKey(privateKey);
  const parsedKey = Array.isArray(key) ? key[0] : key;
  if (parsedKey instanceof Error || !parsedKey?.isPrivateKey()) {
    // Our own words: the parser's message might quote the text it was given.
    throw new ValidationError('invalid credential', [
      {
        field: 'privateKey',
        message:
          'must be an unencrypted OpenSSH or PEM private key (remove a passphrase with ssh-keygen -p), or leave it out to have Drover generate one',
      },
    ]);
  }
  const publicKey = `${parsedKey.type} ${parsedKey.getPublicSSH().toString('base64')} drover:${gatewayId}/${name}`;
  const rows = await db.query<{ created_at: Date }>(
    `insert into credentials (gateway_id, name, public_key, secret) values ($1, $2, $3, $4)
     on conflict (gateway_id, name) do nothing returning created_at`,
    [gatewayId, name, publicKey, encryptSecret(platformKey, Buffer.from(privateKey), secretContext(gatewayId, name))],
  );
  if (rows.length === 0) {
    throw new ConflictError(`credential ${JSON.stringify(name)} exists`, [
      { field: 'name', message: 'already used in this gateway; delete it first to replace it' },
    ]);
  }
  return { name, kind: 'ssh-key', publicKey, createdAt: new Date(rows[0].created_at).toISOString() };
}

/**
 * A new ed25519 private key in OpenSSH format that ssh2 can read back. ssh2's parser refuses
 * about 1 in 300 of the keys its own generator writes ("Malformed OpenSSH private key",
 * measured: 9 of 3000); such a key could never log in, so it is drawn again.
 */
export function generatePrivateKey(): string {
  for (let attempt = 1; ; attempt += 1) {
    const privateKey = sshUtils.generateKeyPairSync('ed25519').private;
    if (!(sshUtils.parseKey(privateKey) instanceof Error) || attempt === 10) return privateKey;
  }
}

const infoColumns = 'name, kind, public_key, created_at';
const toInfo = (row: any): CredentialInfo => ({
  name: row.name,
  kind: row.kind,
  publicKey: row.public_key,
  createdAt: new Date(row.created_at).toISOString(),
});

/** A gateway's credentials, by name (public parts only). */
export async function listCredentials(db: Queryable, gatewayId: string): Promise<CredentialInfo[]> {
  return (
    await db.query(`select ${infoColumns} from credentials where gateway_id = $1 order by name`, [gatewayId])
  ).map(toInfo);
}

/** One credential's public parts. @throws {NotFoundError} when the gateway has none of that name. */
export async function getCredential(db: Queryable, gatewayId: string, name: string): Promise<CredentialInfo> {
  const rows = await db.query(`select ${infoColumns} from credentials where gateway_id = $1 and name = $2`, [
    gatewayId,
    name,
  ]);
  if (rows.length === 0) throw new NotFoundError(`credential ${JSON.stringify(name)}`);
  return toInfo(rows[0]);
}

/**
 * Deletes a credential.
 * @throws {NotFoundError} when the gateway has none of that name.
 * @throws {ConflictError} naming the resources that still log in with it.
 */
export async function deleteCredential(db: Queryable, gatewayId: string, name: string): Promise<void> {
  await getCredential(db, gatewayId, name);
  const users = await db.query<{ name: string }>(
    `select name from resources where gateway_id = $1 and config->'ssh'->>'credential' = $2 order by name`,
    [gatewayId, name],
  );
  if (users.length > 0) {
    throw new ConflictError(`credential ${JSON.stringify(name)} is in use`, [
      {
        field: 'name',
        message: `resources ${users.map((row) => row.name).join(', ')} log in with it; point them at another credential first`,
      },
    ]);
  }
  await db.query('delete from credentials where gateway_id = $1 and name = $2', [gatewayId, name]);
}

/**
 * The decrypted private key of a credential, for SshShell (kept in memory only).
 * @throws {Error} without key material in its message when the credential is missing or does not decrypt.
 */
export async function loadPrivateKey(
  db: Queryable,
  platformKey: Buffer,
  gatewayId: string,
  name: string,
): Promise<Buffer> {
  const rows = await db.query<{ secret: string }>(
    'select secret from credentials where gateway_id = $1 and name = $2',
    [gatewayId, name],
  );
  if (rows.length === 0)
    throw new Error(
      `the gateway has no credential ${JSON.stringify(name)} (an admin can add it: drover credentials create ${name})`,
    );
  try {
    return decryptSecret(platformKey, rows[0].secret, secretContext(gatewayId, name));
  } catch {
    throw new Error(
      `credential ${JSON.stringify(name)} cannot be decrypted with this Drover's platform key (was the platform key changed?)`,
    );
  }
}
