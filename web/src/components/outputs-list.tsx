import { useState } from 'react';
import { ok, serializeOutputPath } from '../../../src/api-client/client';
import { api, errorMessage } from '../api/client';
import type { OutputFile } from '../../../src/api-client/types';
import { formatBytes } from '../format';
import { OutputPreview, previewKind } from './output-preview';

/** The job's logs: shown in the Logs panel, so their previews start folded. */
const logFiles = new Set(['stdout.txt', 'stderr.txt']);

/** At most this many previews start open (each reads its file). */
const openPreviews = 4;

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
  // application/octet-stream: the browser saves it, whatever the server named it.
  const url = URL.createObjectURL(new Blob([blob as Blob], { type: 'application/octet-stream' }));
  const link = document.createElement('a');
  link.href = url;
  link.download = path.split('/').pop() || 'output';
  document.body.append(link);
  link.click();
  link.remove();
  // Give the browser time to start the download before the blob goes.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/**
 * The files brought back from the job, each with a download button and, for images, text,
 * JSON and CSV, a preview (the first few open, the logs folded: the Logs panel shows them).
 */
export function OutputsList({ experimentId, files }: { experimentId: string; files: OutputFile[] }) {
  const [error, setError] = useState<string | null>(null);
  if (files.length === 0) return <p>No output files.</p>;
  const openAtFirst = new Set(
    files
      .filter((file) => previewKind(file) !== 'none' && !logFiles.has(file.path))
      .slice(0, openPreviews)
      .map((file) => file.path),
  );
  return (
    <>
      <ul className="outputs">
        {files.map((file) => (
          <li key={file.path}>
            <div className="output-heading">
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
            </div>
            {previewKind(file) !== 'none' && (
              <FoldedPreview experimentId={experimentId} file={file} open={openAtFirst.has(file.path)} />
            )}
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

/** A preview that reads its file when first opened (and keeps it when folded again). */
function FoldedPreview({ experimentId, file, open }: { experimentId: string; file: OutputFile; open: boolean }) {
  const [opened, setOpened] = useState(open);
  return (
    <details
      className="output-preview"
      open={open}
      onToggle={(event) => {
        if (event.currentTarget.open) setOpened(true);
      }}
    >
      <summary>
        Preview<span className="visually-hidden"> {file.path}</span>
      </summary>
      {opened && <OutputPreview experimentId={experimentId} file={file} />}
    </details>
  );
}
