/**
 * PostgreSQL adapter of the Store port (node-postgres), the only one: for deployments with
 * any number of api, worker and controller processes, and over the embedded server
 * (embedded-store.ts).
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import { retryOnConflict, type Queryable, type QueryOptions, type Store } from './port.ts';

// int8 (bigserial ids, counts) as numbers: ids stay far below 2^53.
pg.types.setTypeParser(20, (value) => Number(value));

export interface PostgresStoreOptions {
  connectionString: string;
  /** Pool size (default 10). */
  maxConnections?: number;
}

/** Connects a pool to PostgreSQL. */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<Store> {
  const pool = new pg.Pool({ connectionString: options.connectionString, max: options.maxConnections ?? 10 });
  // An idle client that loses its connection must not crash the process.
  pool.on('error', () => {});
  await pool.query('select 1');
  const listeners = new Set<pg.Client>();
  return {
    // Any number of processes may share a PostgreSQL server.
    exclusive: false,
    async query(sql, params, options) {
      return (await pool.query(statement(sql, params, options))).rows;
    },
    transaction: (work) =>
      retryOnConflict(async () => {
        const client = await pool.connect();
        // The server may end the connection while the client is out of the pool (a restart,
        // pg_terminate_backend): the pool listens for errors of idle clients only, and an
        // 'error' without a listener would end the process. The transaction's next query
        // fails instead, and the broken client is discarded rather than pooled again.
        let broken: Error | undefined;
        const onError = (error: Error) => (broken = error);
        client.on('error', onError);
        try {
          await client.query('begin');
          const tx: Queryable = {
            query: async (sql, params, options) => (await client.query(statement(sql, params, options))).rows as any,
          };
          const result = await work(tx);
          await client.query('commit');
          return result;
        } catch (error) {
          await client.query('rollback').catch((rollbackError: Error) => (broken ??= rollbackError));
          throw error;
        } finally {
          client.off('error', onError);
          client.release(broken);
        }
      }),
    async listen(channel, onNotify) {
      let client: pg.Client | undefined;
      let stopped = false;
      let listening = false;
      const connect = async (): Promise<void> => {
        const next = new pg.Client({ connectionString: options.connectionString });
        let gone = false;
        // The connection ended (or never came): once listening, connect again after a pause,
        // and again until the server answers (it may be restarting). Callers also poll, so
        // the gap only costs latency.
        const lost = () => {
          if (gone) return;
          gone = true;
          listeners.delete(next);
          next.end().catch(() => {});
          if (listening && !stopped) setTimeout(() => void connect().catch(() => {}), 500).unref();
        };
        next.on('error', lost);
        next.on('end', lost);
        next.on('notification', (message) => {
          if (message.channel === channel) onNotify(message.payload ?? '');
        });
        try {
          await next.connect();
          await next.query(`listen ${quoteIdentifier(channel)}`);
        } catch (error) {
          lost();
          throw error;
        }
        if (stopped) return void (await next.end().catch(() => {}));
        listeners.add(next);
        client = next;
      };
      await connect();
      listening = true;
      return async () => {
        stopped = true;
        if (client) {
          listeners.delete(client);
          await client.end().catch(() => {});
        }
      };
    },
    async close() {
      await Promise.all([...listeners].map((client) => client.end().catch(() => {})));
      await pool.end();
    },
  };
}

/** Prepared statements' names by their text: each connection prepares a name once (node-postgres keeps track). */
const preparedNames = new Map<string, string>();

/** A node-postgres query config: named (so prepared once per connection) when `options.prepared`. */
function statement(text: string, values: unknown[] | undefined, options: QueryOptions | undefined): pg.QueryConfig {
  if (!options?.prepared) return { text, values };
  let name = preparedNames.get(text);
  if (name === undefined) {
    name = `drover_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
    preparedNames.set(text, name);
  }
  return { name, text, values };
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
