/**
 * The end of a settings form: its Save button (and any others), the status line screen
 * readers hear, and the failure, if any, as an alert.
 */
import type { ReactNode } from 'react';

export interface FormActionsProps {
  busy: boolean;
  /** What the last action did (`Saved.`), announced politely. */
  status: string;
  /** Why the last action failed, announced at once; null when it did not. */
  failure: string | null;
  /** Buttons after Save. */
  children?: ReactNode;
}

export function FormActions({ busy, status, failure, children }: FormActionsProps) {
  return (
    <>
      <div className="actions">
        <button type="submit" className="primary" disabled={busy}>
          Save
        </button>
        {children}
        <p role="status" className="status">
          {status}
        </p>
      </div>
      {failure && (
        <p className="error" role="alert">
          {failure}
        </p>
      )}
    </>
  );
}
