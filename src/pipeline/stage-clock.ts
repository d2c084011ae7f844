// The seconds each stage of a run took, for report.json's `timing`.

/** Laps in the order the stages ran, then the whole run as `total`. */
export class StageClock {
  readonly timing: Record<string, number> = {};
  private readonly started = performance.now();
  private last = this.started;

  /** Records the seconds since the previous lap (or the start) under `name`. */
  lap(name: string): void {
    const now = performance.now();
    this.timing[name] = (now - this.last) / 1000;
    this.last = now;
  }

  /** Adds `total`, the seconds since the start, and returns the timing. */
  finish(): Record<string, number> {
    this.timing.total = (performance.now() - this.started) / 1000;
    return this.timing;
  }
}
