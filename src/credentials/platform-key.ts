/**
 * The platform key: the AES-256 key that encrypts stored credentials. From the
 * configuration (`platformKey`, env DROVER_PLATFORM_KEY: 32 bytes, base64), else made once
 * and kept in the data folder (file `platform-key`, mode 0600), like the admin token.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, type Config } from '../config.ts';

/** Decodes a base64 platform key. @throws {ConfigError} when it is not 32 bytes. */
export function decodePlatformKey(text: string, where: string): Buffer {
  const key = Buffer.from(text.trim(), 'base64');
  if (key.length !== 32)
    throw new ConfigError(
      `${where}: the platform key must be 32 bytes in base64 (make one with: openssl rand -base64 32)`,
    );
  return key;
}

/**
 * The platform key for this process. Processes that share a store must share the key:
 * set it in the configuration when they do not share a data folder.
 */
export function loadPlatformKey(config: Pick<Config, 'platformKey' | 'dataDir' | 'memory'>): Buffer {
  if (config.platformKey) return decodePlatformKey(config.platformKey, 'platformKey');
  if (config.memory) return randomBytes(32);
  const file = join(config.dataDir, 'platform-key');
  if (existsSync(file)) return decodePlatformKey(readFileSync(file, 'utf8'), file);
  const key = randomBytes(32);
  // Written whole to a private file, then linked into place: a process starting at the same
  // time either wins the link or reads the winner's complete key, never a half-written one.
  const draft = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(draft, key.toString('base64') + '\n', { mode: 0o600 });
  chmodSync(draft, 0o600);
  try {
    linkSync(draft, file);
    return key;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return decodePlatformKey(readFileSync(file, 'utf8'), file);
    throw error;
  } finally {
    unlinkSync(draft);
  }
}
