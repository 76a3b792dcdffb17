import type { StreamStatus } from '../api/live';

/**
 * Whether the page is following its event stream live. A lost connection is a banner that
 * screen readers announce (role="status"), not a small grey word: the page may be out of date.
 */
export function ConnectionStatus({ status, finished }: { status: StreamStatus; finished: boolean }) {
  const lost = !finished && status === 'reconnecting';
  return (
    <>
      {/* The live region stays in the page so that the message put into it is announced. */}
      <div role="status" className={lost ? 'connection-lost' : undefined}>
        {lost && 'Connection to Drover lost: what you see may be out of date. Reconnecting…'}
      </div>
      {!lost && (
        <p className="live-indicator" aria-hidden="true">
          {finished || status === 'ended' ? 'Finished' : status === 'live' ? '● Live' : '○ Connecting…'}
        </p>
      )}
    </>
  );
}
