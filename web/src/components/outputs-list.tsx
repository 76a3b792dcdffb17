import { useState } from 'react';
import { ok, serializeOutputPath } from '../../../src/api-client/client';
import { api, errorMessage } from '../api/client';
import type { OutputFile } from '../../../src/api-client/types';
import { formatBytes } from '../format';

/**
 * Downloads one output with the user's token (a plain link could not send it) and hands
 * it to the browser as a file.
 */
async function download(experimentId: string, path: string): Promise<void> {
  const blob = await ok(
    api.GET('/api/v1/experiments/{id}/outputs/{path}', {
      params: { path: { id: experimentId, path } },
      pathSerializer: serializeOutputPath,
      parseAs: 'blob',
    }),
  );
  const url = URL.createObjectURL(blob as Blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = path.split('/').pop() || 'output';
  document.body.append(link);
  link.click();
  link.remove();
  // Give the browser time to start the download before the blob goes.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** The files brought back from the job, each with a download button. */
export function OutputsList({ experimentId, files }: { experimentId: string; files: OutputFile[] }) {
  const [error, setError] = useState<string | null>(null);
  if (files.length === 0) return <p>No output files.</p>;
  return (
    <>
      <ul className="outputs">
        {files.map((file) => (
          <li key={file.path}>
            <code>{file.path}</code> <span className="hint">{formatBytes(file.size)}</span>{' '}
            <button
              type="button"
              onClick={() => {
                setError(null);
                download(experimentId, file.path).catch((failure) =>
                  setError(`${file.path} could not be downloaded: ${errorMessage(failure)}`),
                );
              }}
            >
              Download<span className="visually-hidden"> {file.path}</span>
            </button>
          </li>
        ))}
      </ul>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </>
  );
}
