// Progress on stderr for long steps: a live line on a terminal, a few plain lines otherwise, nothing when quiet.

export interface Progress {
  /** Starts a step of `total` units (images, batches, evaluations). */
  start(step: string, total: number): void;
  /** Reports `done` of the step's total so far. */
  update(done: number): void;
  end(): void;
  /** A one-off line. */
  log(message: string): void;
}

export const silentProgress: Progress = { start() {}, update() {}, end() {}, log() {} };

const formatSeconds = (s: number) => (s >= 90 ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${s.toFixed(s < 10 ? 1 : 0)}s`);

export class StderrProgress implements Progress {
  private step = '';
  private total = 0;
  private started = 0;
  private lastPrinted = 0;
  private lastFraction = -1;
  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {}

  start(step: string, total: number): void {
    this.step = step;
    this.total = total;
    this.started = Date.now();
    this.lastPrinted = 0;
    this.lastFraction = -1;
  }

  update(done: number): void {
    const now = Date.now();
    const fraction = this.total ? done / this.total : 1;
    const elapsed = (now - this.started) / 1000;
    const left = fraction > 0 ? (elapsed / fraction) * (1 - fraction) : 0;
    const line = `${this.step}: ${done}/${this.total} (${Math.round(fraction * 100)}%) ${formatSeconds(elapsed)} elapsed, ${formatSeconds(left)} left`;
    if (this.stream.isTTY) {
      if (now - this.lastPrinted < 100 && done < this.total) return;
      this.stream.write(`\r\x1b[K${line}`);
    } else {
      // Plain lines at every 25% (and at the end), so logs stay short.
      if (Math.floor(fraction * 4) === Math.floor(this.lastFraction * 4) && done < this.total) return;
      this.stream.write(`${line}\n`);
    }
    this.lastPrinted = now;
    this.lastFraction = fraction;
  }

  end(): void {
    if (this.stream.isTTY) this.stream.write('\n');
  }

  log(message: string): void {
    this.stream.write(`${message}\n`);
  }
}
