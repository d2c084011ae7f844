import { test } from 'node:test';
import assert from 'node:assert/strict';
import { measureSpeed, median, speedReport, timeInterleaved, type SpeedBounds } from '../../../src/evaluate/speed.js';
import { cpuFlagsFrom, type CpuReport } from '../../../src/runtime/cpu.js';
import type { FloatTensor, Runner, Session } from '../../../src/runtime/runner.js';
import type { ImageBatch } from '../../../src/data/imagefolder.js';

const CPU: CpuReport = { model: 'test CPU', flags: 'unknown' };

/** A clock that only moves when a fake run says so. */
function fakeClock() {
  let t = 0;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

/** A runner whose sessions log each run (model name and batch) and take `msPerImage` of the fake clock per image. */
function fakeRunner(clock: ReturnType<typeof fakeClock>, msPerImage: Record<string, number>, log: string[]): Runner {
  return {
    async createSession(model) {
      const name = typeof model === 'string' ? model : 'quantized';
      const session: Session = {
        inputNames: ['pixel_values'],
        outputNames: ['logits'],
        async run(feeds: Record<string, FloatTensor>) {
          const batch = feeds.pixel_values.dims[0];
          log.push(`${name}@${batch}`);
          clock.advance(msPerImage[name] * batch);
          return { logits: { data: new Float32Array(batch), dims: [batch, 1] } };
        },
        async release() {
          log.push(`release ${name}`);
        },
      };
      return session;
    },
  };
}

const images = (n: number): ImageBatch => ({
  data: new Float32Array(n * 3 * 2 * 2),
  dims: [n, 3, 2, 2],
  labels: new Int32Array(n),
});

test('the models run interleaved, float first, after one warm-up run each', async () => {
  const clock = fakeClock();
  const log: string[] = [];
  const bounds: SpeedBounds = { maxRounds: 3, minRounds: 3, budgetMs: 1e9, now: clock.now };
  await measureSpeed(
    fakeRunner(clock, { float: 1, quantized: 1 }, log),
    { float: 'float', quantized: new Uint8Array() },
    images(8),
    'pixel_values',
    4,
    bounds,
  );
  const round = ['float@1', 'quantized@1', 'float@4', 'quantized@4'];
  assert.deepEqual(log, [...round, ...round, ...round, ...round, 'release float', 'release quantized']);
});

test('rounds stop at the time budget, but never before the minimum', async () => {
  const clock = fakeClock();
  const run = async () => clock.advance(100);
  const budgeted = await timeInterleaved([run, run], { maxRounds: 50, minRounds: 3, budgetMs: 1000, now: clock.now });
  // Warm-up 200 ms, then 200 ms a round: the budget is spent after 4 rounds.
  assert.equal(budgeted[0].length, 4);
  const slow = async () => clock.advance(10_000);
  const atLeast = await timeInterleaved([slow, slow], { maxRounds: 50, minRounds: 3, budgetMs: 1000, now: clock.now });
  assert.deepEqual(atLeast, [Array(3).fill(10_000), Array(3).fill(10_000)]);
  const capped = await timeInterleaved([run], { maxRounds: 5, minRounds: 3, budgetMs: 1e9, now: clock.now });
  assert.equal(capped[0].length, 5);
});

test('the report holds medians, images per second at the batch size and float-over-quantized speedups', () => {
  assert.equal(median([5, 1, 3]), 3);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  const report = speedReport(
    [
      [10, 12, 8],
      [5, 4, 6],
      [100, 90, 110],
      [60, 40, 50],
    ],
    10,
    CPU,
  );
  assert.deepEqual(report, {
    batchSize: 10,
    rounds: 3,
    float: { batch1Ms: 10, batchMs: 100, imagesPerSecond: 100 },
    quantized: { batch1Ms: 5, batchMs: 50, imagesPerSecond: 200 },
    speedup: { batch1: 2, batch: 2 },
    cpu: CPU,
  });
});

test('the batch size is capped by the images at hand', async () => {
  const clock = fakeClock();
  const log: string[] = [];
  const bounds: SpeedBounds = { maxRounds: 3, minRounds: 3, budgetMs: 1e9, now: clock.now };
  const runner = fakeRunner(clock, { float: 2, quantized: 1 }, log);
  const report = await measureSpeed(
    runner,
    { float: 'float', quantized: new Uint8Array() },
    images(3),
    'pixel_values',
    100,
    bounds,
  );
  assert.equal(report.batchSize, 3);
  assert.ok(log.includes('float@3') && !log.some((l) => l.endsWith('@100')));
  assert.equal(report.float.imagesPerSecond, 500);
  assert.equal(report.speedup.batch, 2);
});

test("the CPU's instruction sets come from /proc/cpuinfo's flags, else 'unknown'", () => {
  assert.deepEqual(cpuFlagsFrom('processor\t: 0\nflags\t\t: fpu sse avx2 avx512_vnni\n'), {
    avx512_vnni: true,
    avx_vnni: false,
    amx_tile: false,
    avx2: true,
  });
  assert.equal(cpuFlagsFrom('Processor: ARMv8\n'), 'unknown');
});
