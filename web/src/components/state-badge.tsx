/**
 * A state as a coloured badge. The state is always written out: colour is never the only
 * signal.
 */
export function StateBadge({ state, label }: { state: string; label?: string }) {
  return <span className={`badge badge-${state}`}>{label ?? state}</span>;
}
