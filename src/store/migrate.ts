/**
 * Applies the numbered SQL files in `migrations/` in order, each once, each in its own
 * transaction. Safe to run from several processes at once (advisory lock on PostgreSQL).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { StoreError, type Store } from './port.ts';

const migrationsDir = fileURLToPath(new URL('./migrations/', import.meta.url));
const migrationLock = 74_110_001;

/**
 * Brings the schema up to date (or, with `through`, up to that version, for tests of a
 * migration on data of the version before); returns the versions it applied.
 */
export async function migrate(store: Store, options: { through?: number } = {}): Promise<number[]> {
  const files = readdirSync(migrationsDir)
    .filter((name) => /^\d{4}_.+\.sql$/.test(name))
    .filter((name) => options.through === undefined || Number(name.slice(0, 4)) <= options.through)
    .sort();
  const applied: number[] = [];
  for (const file of files) {
    const version = Number(file.slice(0, 4));
    const sql = readFileSync(migrationsDir + file, 'utf8');
    const done = await store.transaction(async (tx) => {
      // The lock comes first: even `create table if not exists` races on a fresh database.
      await tx.query('select pg_advisory_xact_lock($1)', [migrationLock]);
      await tx.query(`create table if not exists schema_migrations (
        version integer primary key, name text not null, applied_at timestamptz not null default now())`);
      const existing = await tx.query('select 1 from schema_migrations where version = $1', [version]);
      if (existing.length > 0) return false;
      try {
        for (const statement of splitStatements(sql)) await tx.query(statement);
      } catch (error) {
        throw new StoreError(`migration ${file} failed: ${(error as Error).message}`);
      }
      await tx.query('insert into schema_migrations (version, name) values ($1, $2)', [version, file]);
      return true;
    });
    if (done) applied.push(version);
  }
  return applied;
}

/** Splits a migration on semicolons at line ends (our migrations hold no function bodies). */
function splitStatements(sql: string): string[] {
  return sql
    .split(/;\s*$/m)
    .map((statement) => statement.replace(/^\s*--.*$/gm, '').trim())
    .filter((statement) => statement.length > 0);
}
