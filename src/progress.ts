// Progress on stderr for long steps: a live line on a terminal, a few plain lines otherwise, nothing when quiet.
/// <reference types="node" preserve="true" />

export interface Progress {
  /** Starts a step of `total` units (images, batches, evaluations). */
  start(step: string, total: number): void;
  /**
   * Reports `done` of the step's total so far; `estimate` replaces the total (work that turned out to be less)
   * and the time left (from the caller's own measure of the work left) where the caller knows better.
   */
  update(done: number, estimate?: ProgressEstimate): void;
  end(): void;
  /** A one-off line. */
  log(message: string): void;
}

export interface ProgressEstimate {
  total?: number;
  secondsLeft?: number;
}

export const silentProgress: Progress = { start() {}, update() {}, end() {}, log() {} };

const formatSeconds = (s: number) =>
  s >= 90 ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${s.toFixed(s < 10 ? 1 : 0)}s`;

const BAR_WIDTH = 24;

/** `[#########...............]`: the done fraction as a bar of fixed width. */
export function progressBar(fraction: number, width = BAR_WIDTH): string {
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

export class StderrProgress implements Progress {
  private step = '';
  private total = 0;
  private started = 0;
  private lastPrinted = 0;
  private lastFraction = -1;
  /** The first update: time left is measured from it, so work done before (a resumed search) counts for nothing. */
  private first?: { done: number; time: number };
  /** The live line on a terminal, redrawn after a log line. */
  private live = '';
  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {}

  start(step: string, total: number): void {
    this.step = step;
    this.total = total;
    this.started = Date.now();
    this.lastPrinted = 0;
    this.lastFraction = -1;
    this.first = undefined;
    this.live = '';
  }

  /** Seconds left at the rate since the first update (before a second one: since the start). */
  private secondsLeft(done: number, now: number): number {
    const first = (this.first ??= { done, time: now });
    const [since, doneSince] = done > first.done ? [now - first.time, done - first.done] : [now - this.started, done];
    return doneSince > 0 ? (since / 1000 / doneSince) * (this.total - done) : 0;
  }

  update(done: number, estimate: ProgressEstimate = {}): void {
    const now = Date.now();
    if (estimate.total !== undefined) this.total = estimate.total;
    const fraction = this.total ? done / this.total : 1;
    const elapsed = (now - this.started) / 1000;
    const rate = this.secondsLeft(done, now);
    const left = estimate.secondsLeft ?? rate;
    const counts = `${done}/${this.total} (${Math.round(fraction * 100)}%) ${formatSeconds(elapsed)} elapsed, ${formatSeconds(left)} left`;
    if (this.stream.isTTY) {
      if (now - this.lastPrinted < 100 && done < this.total) return;
      this.live = `${this.step} ${progressBar(fraction)} ${counts}`;
      this.stream.write(`\r\x1b[K${this.live}`);
    } else {
      // Plain lines at every 25% (and at the end), so logs stay short.
      if (Math.floor(fraction * 4) === Math.floor(this.lastFraction * 4) && done < this.total) return;
      this.stream.write(`${this.step}: ${counts}\n`);
    }
    this.lastPrinted = now;
    this.lastFraction = fraction;
  }

  end(): void {
    if (this.stream.isTTY && this.live) this.stream.write('\n');
    this.live = '';
  }

  log(message: string): void {
    if (this.stream.isTTY && this.live) this.stream.write(`\r\x1b[K${message}\n${this.live}`);
    else this.stream.write(`${message}\n`);
  }
}
