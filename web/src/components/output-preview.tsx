import { useEffect, useState } from 'react';
import { ok, serializeOutputPath } from '../../../src/api-client/client';
import { api, errorMessage } from '../api/client';
import type { OutputFile } from '../../../src/api-client/types';
import { parseCsv, type CsvTable } from '../csv';
import { formatBytes } from '../format';
import { CsvPlot } from './csv-plot';

/** The most of a text, JSON or CSV output read for a preview. */
export const previewTextBytes = 256 * 1024;
/** The largest image shown inline. */
export const previewImageBytes = 10 * 1024 * 1024;
/** The most rows of a CSV shown as a table (the plot draws every row read). */
export const previewTableRows = 100;

/**
 * How an output is previewed, from the media type the server serves it as (it names only
 * formats no browser runs script from; SVG and HTML are `application/octet-stream`).
 */
export type PreviewKind = 'image' | 'json' | 'table' | 'text' | 'none';

/** The preview of a file: none for a type the server does not name, or an image too large to show. */
export function previewKind(file: OutputFile): PreviewKind {
  if (file.mediaType.startsWith('image/')) return file.size <= previewImageBytes ? 'image' : 'none';
  if (file.mediaType === 'application/json') return 'json';
  if (file.mediaType === 'text/csv' || file.mediaType === 'text/tab-separated-values') return 'table';
  if (file.mediaType === 'text/plain') return 'text';
  return 'none';
}

/** An output's bytes (the first `bytes` of them), read with the user's token. */
async function readOutput(experimentId: string, path: string, bytes?: number): Promise<Blob> {
  return (await ok(
    api.GET('/api/v1/experiments/{id}/outputs/{path}', {
      params: { path: { id: experimentId, path }, query: bytes ? { bytes } : {} },
      pathSerializer: serializeOutputPath,
      parseAs: 'blob',
    }),
  )) as Blob;
}

type Loaded =
  | { kind: 'image'; url: string }
  | { kind: 'text'; text: string; truncated: boolean }
  | { kind: 'json'; text: string; truncated: boolean }
  | { kind: 'table'; table: CsvTable; truncated: boolean };

/**
 * One output shown on the page: an image inline, JSON pretty-printed, a CSV as a table
 * (the first 100 rows) and a plot of its numeric columns, text as it is. Text, JSON and CSV
 * are read up to 256 KiB, with a note to download the rest.
 */
export function OutputPreview({ experimentId, file }: { experimentId: string; file: OutputFile }) {
  const kind = previewKind(file);
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    if (kind === 'none') return;
    let stopped = false;
    let objectUrl: string | undefined;
    setLoaded(null);
    setError(null);
    (async () => {
      if (kind === 'image') {
        const blob = await readOutput(experimentId, file.path);
        // The blob keeps the type the server named (one of the image types), so the <img>
        // decodes it as an image and nothing else.
        objectUrl = URL.createObjectURL(blob);
        if (!stopped) setLoaded({ kind: 'image', url: objectUrl });
        return;
      }
      const truncated = file.size > previewTextBytes;
      const blob = await readOutput(experimentId, file.path, truncated ? previewTextBytes : undefined);
      const text = new TextDecoder().decode(await blob.arrayBuffer());
      if (stopped) return;
      if (kind === 'json') setLoaded({ kind: 'json', text: truncated ? text : prettyJson(text), truncated });
      else if (kind === 'table')
        setLoaded({
          kind: 'table',
          table: parseCsv(text, file.mediaType === 'text/csv' ? ',' : '\t', truncated),
          truncated,
        });
      else setLoaded({ kind: 'text', text, truncated });
    })().catch((failure) => {
      if (!stopped) setError(`${file.path} could not be read: ${errorMessage(failure)}`);
    });
    return () => {
      stopped = true;
      if (objectUrl) URL.revokeObjectURL(objectUrl);
    };
  }, [experimentId, file.path, file.size, file.mediaType, kind]);

  if (kind === 'none')
    return (
      <p className="hint">
        {file.mediaType.startsWith('image/')
          ? `Too large to show here (over ${formatBytes(previewImageBytes)}); download it.`
          : 'No preview for this kind of file; download it.'}
      </p>
    );
  if (error)
    return (
      <p className="error" role="alert">
        {error}
      </p>
    );
  if (!loaded) return <p role="status">Loading…</p>;
  switch (loaded.kind) {
    case 'image':
      return <img className="output-image" src={loaded.url} alt={`Output image ${file.path}`} />;
    case 'json':
    case 'text':
      return (
        <>
          <pre className="output-text" tabIndex={0} aria-label={`Contents of ${file.path}`}>
            {loaded.text}
          </pre>
          {loaded.truncated && <TruncatedNote size={file.size} />}
        </>
      );
    case 'table':
      return <CsvPreview table={loaded.table} path={file.path} truncated={loaded.truncated} size={file.size} />;
  }
}

/** JSON re-indented for reading; the text as it is when it is not JSON (a program may write anything). */
function prettyJson(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

/** A CSV as a plot of its numeric columns and a table of its first rows. */
function CsvPreview({
  table,
  path,
  truncated,
  size,
}: {
  table: CsvTable;
  path: string;
  truncated: boolean;
  size: number;
}) {
  if (table.header.length === 0) return <p className="hint">Empty.</p>;
  const rows = table.rows.slice(0, previewTableRows);
  return (
    <>
      <CsvPlot table={table} title={`Plot of ${path}`} />
      <div className="table-scroll" tabIndex={0} role="region" aria-label={`Rows of ${path}`}>
        <table className="csv-table">
          <caption>
            {path}: {rows.length < table.rows.length ? `the first ${rows.length} of ` : ''}
            {table.rows.length}
            {truncated ? '+' : ''} rows
          </caption>
          <thead>
            <tr>
              {table.header.map((name, column) => (
                <th key={column} scope="col" className={table.numeric[column] ? 'number' : undefined}>
                  {name}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((row, index) => (
              <tr key={index}>
                {row.map((cell, column) => (
                  <td key={column} className={table.numeric[column] ? 'number' : undefined}>
                    {cell}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {truncated && <TruncatedNote size={size} />}
    </>
  );
}

/** What a preview of a file larger than it reads says. */
function TruncatedNote({ size }: { size: number }) {
  return (
    <p className="hint">
      Truncated: the first {formatBytes(previewTextBytes)} of {formatBytes(size)} shown; download the file for all of
      it.
    </p>
  );
}
