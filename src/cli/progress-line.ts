/**
 * The progress line of `drover watch`: what the program in the job says about how far it is.
 */
import type { JobProgress } from '../api-client/types.ts';
import { formatPercent } from '../api-client/progress.ts';
import { progressBar, progressText } from './format.ts';

/**
 * `watch`'s progress: on a terminal, one line at the bottom redrawn in place (and every
 * second, so elapsed time moves) below the events; elsewhere (a pipe, a log file), a
 * `progress` line each time the whole percentage or the message changes.
 */
export class ProgressLine {
  private latest: JobProgress | null = null;
  private startedAt: string | null = null;
  private endedAt: string | null = null;
  private drawn = false;
  private lastPrinted = '';
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly walltimeMinutes: number,
    private readonly terminal: boolean,
  ) {}

  /** A job event: running starts the clock, an end stops it. */
  job(state: string, at: string): void {
    if (state === 'running') this.startedAt ??= at;
    if (['completed', 'failed', 'canceled', 'timed-out', 'lost'].includes(state)) this.endedAt ??= at;
    this.redraw();
  }

  update(progress: JobProgress): void {
    this.latest = progress;
    if (this.terminal) {
      this.redraw();
      this.timer ??= setInterval(() => this.redraw(), 1000).unref();
      return;
    }
    const line = `progress ${progress.fraction !== null ? formatPercent(progress.fraction) : ''} ${progress.message ?? ''}`;
    if (line !== this.lastPrinted) {
      this.lastPrinted = line;
      process.stdout.write(`${this.text(false)}\n`);
    }
  }

  /** Prints a line above the progress line. */
  print(line: string): void {
    this.erase();
    process.stdout.write(`${line}\n`);
    this.redraw();
  }

  clear(): void {
    clearInterval(this.timer);
    this.erase();
  }

  private text(bar: boolean): string {
    const shown = {
      ...this.latest!,
      jobStartedAt: this.startedAt,
      jobEndedAt: this.endedAt,
      walltimeMinutes: this.walltimeMinutes,
    };
    // A line in a log stays: times that would go stale are for the terminal's live line.
    return `progress ${bar ? `${progressBar(shown.fraction)} ` : ''}${progressText(shown, { detailed: true, withTimes: bar })}`;
  }

  private redraw(): void {
    if (!this.terminal || !this.latest) return;
    // Cut to the terminal's width: a wrapped line could not be redrawn in place.
    const width = process.stdout.columns || 80;
    process.stdout.write(`\r\u001b[2K${this.text(true).slice(0, width - 1)}`);
    this.drawn = true;
  }

  private erase(): void {
    if (this.drawn) process.stdout.write('\r\u001b[2K');
    this.drawn = false;
  }
}
