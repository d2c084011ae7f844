import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evolveUnit, mutate, type Evaluate, type Scales } from '../../../src/search/evolution.js';
import { Rng } from '../../../src/rng.js';

const options = { population: 15, cycles: 3, tournament: 10, radius: 1e-3, mutation: 'absolute' as const };

/** An evaluation from a fitness of the scales alone, with one image whose term is the fitness. */
const scoredBy =
  (f: (s: Scales) => number): Evaluate =>
  async (s) => {
    const fitness = f(s);
    return { fitness, rows: Float64Array.of(fitness) };
  };

test('mutation adds uniform noise within ±r and takes the absolute value', () => {
  const start = [Float32Array.of(0.01, 0.0002, 0.5)];
  const rng = new Rng(1);
  for (let i = 0; i < 200; i++) {
    const [m] = mutate(start, rng, 1e-3, 'absolute');
    m.forEach((v, j) => {
      assert.ok(v > 0);
      assert.ok(Math.abs(v - start[0][j]) <= 1e-3 + 1e-7 || Math.abs(v + start[0][j]) <= 1e-3 + 1e-7);
    });
  }
  const [relative] = mutate([Float32Array.of(2, 200)], rng, 0.05, 'relative');
  assert.ok(Math.abs(relative[0] - 2) <= 0.1 && Math.abs(relative[1] - 200) <= 10);
});

test("joint mutation moves a point's scales together by a common factor, then each by its own", () => {
  const rng = new Rng(3);
  const ones = Float32Array.from({ length: 512 }, () => 1);
  const ratios = [];
  for (let i = 0; i < 50; i++) {
    const [joint] = mutate([ones], rng, 0.05, 'joint');
    for (const v of joint) assert.ok(v >= 0.95 * 0.95 - 1e-6 && v <= 1.05 * 1.05 + 1e-6);
    ratios.push(joint.reduce((a, b) => a + b, 0) / joint.length);
  }
  // The mean of 512 independent ±5% factors stays within ±0.5% of 1; a common factor moves it by up to 5%.
  const spread = Math.max(...ratios) - Math.min(...ratios);
  assert.ok(spread > 0.05, `joint means spread ${spread}`);
  const independent = Array.from(
    { length: 50 },
    () => mutate([ones], rng, 0.05, 'relative')[0].reduce((a, b) => a + b, 0) / 512,
  );
  assert.ok(Math.max(...independent) - Math.min(...independent) < 0.01);
});

test('point mutation moves every scale of a point by one factor, each point by its own', () => {
  const rng = new Rng(4);
  const scales = [Float32Array.from({ length: 64 }, (_, i) => 0.01 * (i + 1)), Float32Array.of(3)];
  const factors = new Set<number>();
  for (let i = 0; i < 20; i++) {
    const [channels, single] = mutate(scales, rng, 0.05, 'point');
    const factor = channels[0] / scales[0][0];
    assert.ok(Math.abs(factor - 1) <= 0.05 + 1e-6 && Math.abs(factor - 1) > 0);
    channels.forEach((v, c) => assert.ok(Math.abs(v / scales[0][c] - factor) < 1e-5, `channel ${c}`));
    assert.ok(Math.abs(single[0] / 3 - 1) <= 0.05 + 1e-6);
    factors.add(Number((single[0] / 3 - factor).toFixed(6)));
  }
  assert.ok(factors.size > 1, 'the points draw their factors apart');
});

test('one evaluation per cycle; the start is kept when no mutation beats it', async () => {
  let calls = 0;
  const { best, evaluations } = await evolveUnit(
    { scales: [Float32Array.of(0.5)], fitness: 1 },
    scoredBy(() => (calls++, 2)),
    new Rng(2),
    options,
  );
  assert.equal(evaluations, 3);
  assert.equal(calls, 3);
  assert.deepEqual(Array.from(best.scales[0]), [0.5]);
  assert.equal(best.fitness, 1);
});

test('the search moves towards lower fitness and is deterministic for a seed', async () => {
  const target = 0.3;
  const fitness = scoredBy((s) => Math.abs(s[0][0] - target));
  const run = (seed: number) =>
    evolveUnit({ scales: [Float32Array.of(0.31)], fitness: 0.01 }, fitness, new Rng(seed), {
      ...options,
      cycles: 60,
      radius: 2e-3,
    });
  const a = await run(3);
  const b = await run(3);
  assert.deepEqual(a, b);
  assert.ok(a.best.fitness < 0.005, `reached ${a.best.fitness}`);
  assert.notDeepEqual((await run(4)).best.scales, a.best.scales);
});

test('a race that stops exactly the candidates no better than the member they would replace changes nothing', async () => {
  const target = 0.3;
  const value = (s: Scales) => Math.abs(s[0][0] - target);
  const start = { scales: [Float32Array.of(0.31)], fitness: 0.01, rows: Float64Array.of(0.01) };
  const settings = { ...options, cycles: 60, radius: 2e-3 };
  const rivals: number[] = [];
  const raced: Evaluate = async (s, rival) => {
    rivals.push(rival!.fitness);
    return value(s) >= rival!.fitness ? undefined : { fitness: value(s), rows: Float64Array.of(value(s)) };
  };
  const plain = await evolveUnit(start, scoredBy(value), new Rng(7), settings);
  const race = await evolveUnit(start, raced, new Rng(7), settings);
  assert.deepEqual(race.best.scales, plain.best.scales);
  assert.equal(race.best.fitness, plain.best.fitness);
  assert.equal(plain.stopped, 0);
  assert.ok(race.stopped > 0 && race.stopped < 60, `${race.stopped} stopped`);
  // The rival is the worst member: the start's fitness until 15 better candidates have replaced every copy of it.
  assert.equal(rivals[0], 0.01);
  assert.ok(
    rivals.every((r, i) => i === 0 || r <= rivals[i - 1]),
    'the worst member only gets better',
  );
});
