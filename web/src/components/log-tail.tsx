import { useEffect, useLayoutEffect, useRef, useState } from 'react';
import { ApiError, ok } from '../../../src/api-client/client';
import { api, errorMessage } from '../api/client';

const tailBytes = 16 * 1024;
const refreshMs = 2000;

/** Props of {@link LogTail}. */
export interface LogTailProps {
  experimentId: string;
  stream: 'stdout' | 'stderr';
  /** Refresh every two seconds (while the job may still write). */
  live: boolean;
  /** Changes when the log may have changed for good (the experiment finished): read once more. */
  version: string;
}

/**
 * The last 16 KiB of the job's stdout or stderr, refreshed while it runs. It stays
 * scrolled to the end unless the user scrolled up to read.
 */
export function LogTail({ experimentId, stream, live, version }: LogTailProps) {
  const [text, setText] = useState<string | null>(null);
  const [note, setNote] = useState<string>('Loading…');
  const box = useRef<HTMLPreElement>(null);
  const atEnd = useRef(true);

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const read = async () => {
      try {
        const content = await ok(
          api.GET('/api/v1/experiments/{id}/logs/{stream}', {
            params: { path: { id: experimentId, stream }, query: { tail: tailBytes } },
            parseAs: 'text',
          }),
        );
        if (stopped) return;
        setText(content ?? ''); // an empty log has no body
        setNote('');
      } catch (error) {
        if (stopped) return;
        if (error instanceof ApiError && error.status === 404) setNote('Nothing written yet.');
        else setNote(`Could not read ${stream}: ${errorMessage(error)}`);
      }
      if (!stopped && live) timer = setTimeout(read, refreshMs);
    };
    void read();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [experimentId, stream, live, version]);

  useLayoutEffect(() => {
    const element = box.current;
    if (element && atEnd.current) element.scrollTop = element.scrollHeight;
  }, [text]);

  const label = stream === 'stdout' ? 'Standard output' : 'Standard error';
  return (
    <div className="log">
      <h3 id={`log-${stream}`}>{label}</h3>
      {text === null || text === '' ? (
        <p className="hint">{text === '' ? 'Empty.' : note}</p>
      ) : (
        <pre
          ref={box}
          tabIndex={0}
          aria-labelledby={`log-${stream}`}
          onScroll={(event) => {
            const element = event.currentTarget;
            atEnd.current = element.scrollHeight - element.scrollTop - element.clientHeight < 8;
          }}
        >
          {text}
        </pre>
      )}
    </div>
  );
}
