// How fast model.onnx runs beside the float model on this machine: batch-1 latency and throughput at the batch
// size, both models timed in interleaved rounds so that the machine's load drifts alike over both.
import { sliceBatch, type ImageBatch } from '../data/imagefolder.js';
import type { FloatTensor, Runner, Session } from '../runtime/runner.js';
import { cpuReport, type CpuReport } from '../runtime/cpu.js';

/** Medians over the rounds of one model. */
export interface ModelSpeed {
  batch1Ms: number;
  batchMs: number;
  imagesPerSecond: number;
}

export interface SpeedReport {
  /** Images per run of the throughput: --batch-size, capped by the images at hand. */
  batchSize: number;
  rounds: number;
  float: ModelSpeed;
  quantized: ModelSpeed;
  /** Float time over model.onnx's (above 1: model.onnx is faster). */
  speedup: { batch1: number; batch: number };
  cpu: CpuReport;
}

export interface SpeedBounds {
  /** Rounds run at most, and at least (the time budget ends none before these). */
  maxRounds: number;
  minRounds: number;
  /** Milliseconds after which no new round starts, warm-up included. */
  budgetMs: number;
  now: () => number;
}

// A few seconds at 224 px: enough rounds for a stable median, small beside the evaluation it follows.
/** How sessions timed against each other are created: no spinning threads between runs (SessionOptions.spinning). */
export const TIMED = { spinning: false } as const;

export const SPEED_BOUNDS: SpeedBounds = { maxRounds: 20, minRounds: 3, budgetMs: 3000, now: () => performance.now() };

/**
 * Runs each of `runs` once to warm up, then in rounds (runs[0], runs[1], …, runs[0], …) until `maxRounds`, or the
 * budget is spent after `minRounds`; the milliseconds of each run's every round.
 */
export async function timeInterleaved(
  runs: readonly (() => Promise<unknown>)[],
  bounds: SpeedBounds,
): Promise<number[][]> {
  const started = bounds.now();
  for (const run of runs) await run();
  const times: number[][] = runs.map(() => []);
  for (let round = 0; round < bounds.maxRounds; round++) {
    if (round >= bounds.minRounds && bounds.now() - started >= bounds.budgetMs) break;
    for (const [i, run] of runs.entries()) {
      const t0 = bounds.now();
      await run();
      times[i].push(bounds.now() - t0);
    }
  }
  return times;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The report from the run times: [float batch 1, model.onnx batch 1, float batch N, model.onnx batch N]. */
export function speedReport(times: readonly number[][], batchSize: number, cpu: CpuReport): SpeedReport {
  const [float1, quantized1, floatN, quantizedN] = times.map(median);
  const speed = (batch1Ms: number, batchMs: number): ModelSpeed => ({
    batch1Ms,
    batchMs,
    imagesPerSecond: (1000 * batchSize) / batchMs,
  });
  return {
    batchSize,
    rounds: times[0].length,
    float: speed(float1, floatN),
    quantized: speed(quantized1, quantizedN),
    speedup: { batch1: float1 / quantized1, batch: floatN / quantizedN },
    cpu,
  };
}

/** Times the float model and model.onnx on the first `batchSize` of `images`, one session each on `runner`. */
export async function measureSpeed(
  runner: Runner,
  models: { float: Uint8Array | string; quantized: Uint8Array },
  images: ImageBatch,
  inputName: string,
  batchSize: number,
  bounds: SpeedBounds = SPEED_BOUNDS,
): Promise<SpeedReport> {
  const n = Math.min(batchSize, images.dims[0]);
  const feeds = (end: number): Record<string, FloatTensor> => ({ [inputName]: sliceBatch(images, 0, end) });
  const sessions: Session[] = [];
  try {
    sessions.push(await runner.createSession(models.float, TIMED));
    sessions.push(await runner.createSession(models.quantized, TIMED));
    const [float, quantized] = sessions;
    const one = feeds(1);
    const many = feeds(n);
    const runs = [() => float.run(one), () => quantized.run(one)];
    // At batch size 1 the batch-1 rounds are the throughput's too.
    if (n > 1)
      runs.push(
        () => float.run(many),
        () => quantized.run(many),
      );
    const times = await timeInterleaved(runs, bounds);
    return speedReport(n > 1 ? times : [...times, ...times], n, cpuReport());
  } finally {
    for (const s of sessions) await s.release();
  }
}

/** model.onnx's and the float model's batch-1 times, as the CLI and the warnings write them: `4.1 ms vs 6.4 ms`. */
export function batch1Times({ quantized, float }: SpeedReport): string {
  return `${quantized.batch1Ms.toFixed(1)} ms vs ${float.batch1Ms.toFixed(1)} ms`;
}

/** model.onnx's and the float model's images per second at the batch size: `2,310 vs 1,500 img/s`. */
export function batchRates({ quantized, float }: SpeedReport): string {
  const rate = (x: number) => Math.round(x).toLocaleString('en-US');
  return `${rate(quantized.imagesPerSecond)} vs ${rate(float.imagesPerSecond)} img/s`;
}
