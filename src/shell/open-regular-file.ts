/**
 * Opening a file that a job (or anyone else) may have replaced by a link.
 */
import { constants as fsConstants } from 'node:fs';
import * as fs from 'node:fs/promises';

/**
 * Opens `filePath` for reading only if it is a regular file reached without following a
 * symbolic link at its last component (O_NOFOLLOW: a job may plant a link to read files
 * outside its folder through Drover), and without blocking on a FIFO (O_NONBLOCK).
 *
 * @returns the open handle (the caller closes it) and the file's size.
 * @throws ENOENT when there is no such file; an error with code ELOOP for a symbolic link,
 *   EINVAL for anything but a regular file.
 */
export async function openRegularFile(filePath: string): Promise<{ handle: fs.FileHandle; size: number }> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(filePath, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') {
      throw Object.assign(new Error(`${filePath} is a symbolic link: not followed`), { code: 'ELOOP' });
    }
    throw error;
  }
  const info = await handle.stat();
  if (!info.isFile()) {
    await handle.close();
    throw Object.assign(new Error(`${filePath} is not a regular file`), { code: 'EINVAL' });
  }
  return { handle, size: info.size };
}
