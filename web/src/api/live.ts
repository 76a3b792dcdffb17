/**
 * Live updates over server-sent events. EventSource reconnects by itself (sending
 * Last-Event-ID) after a dropped connection; when the server refuses a connection the
 * browser gives up, so the hook opens a new one a little later.
 */
import { useEffect, useRef, useState } from 'react';

/** Handlers by SSE event name; `data` is the event's parsed JSON. */
export type StreamListeners = Record<string, (data: unknown, eventId: string) => void>;

export interface StreamOptions {
  /** Called on every (re)connection: a chance to reload what may have been missed. */
  onOpen?: () => void;
  /** Query parameter that resumes after the last event id when the hook reopens the stream itself. */
  resumeParameter?: string;
  /**
   * Opens the stream again, from the start, when this changes: a stream that ended (an
   * experiment that failed) has more to say once the experiment is resumed (its `run`).
   */
  restartKey?: string | number;
}

/** Whether the stream is connected, for a small "live" indicator; `ended` once the server said `event: end`. */
export type StreamStatus = 'connecting' | 'live' | 'reconnecting' | 'ended';

const reopenDelayMs = 3000;

/**
 * Follows the SSE stream at `path` (an /api/v1 GET) while the component is mounted and
 * `path` is not null. Handlers may change between renders without reconnecting.
 */
export function useEventStream(
  path: string | null,
  listeners: StreamListeners,
  options: StreamOptions = {},
): StreamStatus {
  const current = useRef({ listeners, options });
  current.current = { listeners, options };
  const [status, setStatus] = useState<StreamStatus>('connecting');

  useEffect(() => {
    if (path === null) return;
    let source: EventSource | null = null;
    let reopen: ReturnType<typeof setTimeout> | undefined;
    let lastId = '';
    let stopped = false;

    const open = () => {
      const { resumeParameter } = current.current.options;
      const resumed =
        resumeParameter && lastId
          ? `${path}${path.includes('?') ? '&' : '?'}${resumeParameter}=${encodeURIComponent(lastId)}`
          : path;
      // Same-origin: the browser sends the session cookie with it, so no token goes in the URL.
      source = new EventSource(resumed);
      source.onopen = () => {
        setStatus('live');
        current.current.options.onOpen?.();
      };
      source.onerror = () => {
        if (stopped || !source) return;
        setStatus('reconnecting');
        if (source.readyState === EventSource.CLOSED) {
          source = null;
          reopen = setTimeout(open, reopenDelayMs);
        }
      };
      // The server has sent everything there will be (an experiment that ended): reconnecting
      // would only fetch nothing again, so close for good.
      source.addEventListener('end', () => {
        stopped = true;
        source?.close();
        setStatus('ended');
      });
      for (const name of Object.keys(current.current.listeners)) {
        source.addEventListener(name, (event) => {
          const message = event as MessageEvent<string>;
          if (message.lastEventId) lastId = message.lastEventId;
          let data: unknown;
          try {
            data = JSON.parse(message.data);
          } catch {
            return; // not ours to show
          }
          current.current.listeners[name]?.(data, message.lastEventId);
        });
      }
    };
    setStatus('connecting');
    open();
    return () => {
      stopped = true;
      clearTimeout(reopen);
      source?.close();
    };
  }, [path, options.restartKey]);

  return status;
}
