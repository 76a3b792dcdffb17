/**
 * How times, sizes and values are written for people. Times are shown in the browser's
 * locale and time zone, with the exact ISO time in the `<time>` element's datetime.
 */

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
const timeOnly = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const numberFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 10 });

/** "12 Mar 2026, 14:03:05"; an em dash for no time. */
export function formatDateTime(value: string | Date | null | undefined): string {
  if (!value) return '—';
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : dateTime.format(date);
}

/** "14:03:05". */
export function formatTime(value: string | Date): string {
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : timeOnly.format(date);
}

/** "1.2 MB". */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** "1 h 2 min", "3.4 s" between two times (or until now). */
export function formatDuration(from: string | Date | null | undefined, to?: string | Date | null): string {
  if (!from) return '—';
  return formatSpan((to ? new Date(to).getTime() : Date.now()) - new Date(from).getTime());
}

/** "1 h 2 min", "3.4 s" for a number of milliseconds. */
export function formatSpan(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 60) return `${minutes} min ${Math.floor((ms % 60_000) / 1000)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** A number with the locale's grouping: 2,000,000. */
export function formatNumber(value: number): string {
  return numberFormat.format(value);
}

/** An input value as text: booleans as yes/no, everything else as written. */
export function formatValue(value: unknown): string {
  if (value === undefined || value === null || value === '') return '—';
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  return String(value);
}
