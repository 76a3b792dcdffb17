/**
 * Uploads: the rows of files users send for file inputs (the bytes are in storage, under
 * the row's id). An upload has no states; it belongs to its owner, who alone may use it.
 */
import type { Queryable } from '../store/port.ts';

/** The uploads among `ids` that belong to `ownerId`: id to file name. */
export async function findOwnUploads(db: Queryable, ownerId: string, ids: string[]): Promise<Map<string, string>> {
  const rows = await db.query<{ id: string; filename: string }>(
    'select id, filename from uploads where id = any($1::uuid[]) and owner_id = $2',
    [ids, ownerId],
  );
  return new Map(rows.map((row) => [row.id, row.filename]));
}

/** The file names of the uploads among `ids`. */
export async function listUploads(db: Queryable, ids: string[]): Promise<Array<{ id: string; filename: string }>> {
  return db.query<{ id: string; filename: string }>('select id, filename from uploads where id = any($1::uuid[])', [
    ids,
  ]);
}

/**
 * Records an upload of `size` bytes unless the owner's uploads would then pass
 * `quotaBytes`; returns its id, or how many bytes the owner has used when over quota.
 * The owner's row lock makes two concurrent uploads count each other.
 */
export async function recordUpload(
  tx: Queryable,
  upload: { gatewayId: string; ownerId: string; filename: string; size: number },
  quotaBytes: number,
): Promise<{ id: string } | { overQuota: true; used: number }> {
  await tx.query('select 1 from users where id = $1 for update', [upload.ownerId]);
  const [{ used }] = await tx.query<{ used: string }>(
    'select coalesce(sum(size), 0)::text as used from uploads where owner_id = $1',
    [upload.ownerId],
  );
  if (Number(used) + upload.size > quotaBytes) return { overQuota: true, used: Number(used) };
  const rows = await tx.query<{ id: string }>(
    'insert into uploads (gateway_id, owner_id, filename, size) values ($1, $2, $3, $4) returning id',
    [upload.gatewayId, upload.ownerId, upload.filename, upload.size],
  );
  return { id: rows[0].id };
}
