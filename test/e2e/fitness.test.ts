import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadModel } from '../../src/model.js';
import { findQuantPoints } from '../../src/quant/points.js';
import { findUnits } from '../../src/quant/units.js';
import { materialize } from '../../src/quant/materialize.js';
import { calibrate } from '../../src/calibrate/calibrate.js';
import { listImageFolder, decodeImages } from '../../src/data/imagefolder.js';
import { defaultRunner } from '../../src/runtime/runner.js';
import { Fitness, withScales } from '../../src/fitness/fitness.js';
import { lossFunction } from '../../src/fitness/losses.js';
import { mutate } from '../../src/search/evolution.js';
import { Rng } from '../../src/rng.js';
import type { UniformParams } from '../../src/quant/scheme.js';
import { DEFAULT_MODEL, ASSETS, tempDir } from '../helpers.js';
import { withoutFloatLayers } from '../../src/quant/float-layers.js';
import { weightSensitivity, SENSITIVITY_IMAGES } from '../../src/widths/sensitivity.js';
import { silentProgress } from '../../src/progress.js';
import { sliceBatch } from '../../src/data/imagefolder.js';

async function setup(wBits: number) {
  const model = loadModel(DEFAULT_MODEL);
  const points = findQuantPoints(model.graph);
  const units = findUnits(model.graph, points);
  const items = listImageFolder(join(ASSETS, 'cifar10/calib'), model.labels).items;
  const images = await decodeImages(
    items.filter((_, i) => i % 6 === 0),
    model.preprocessing,
  );
  const table = await calibrate(defaultRunner, model.graph, model.inputName, points, images, {
    wBits,
    aBits: 8,
    observer: 'minmax',
    ptf: true,
    lis: false,
    biasCorrection: true,
    batchSize: 100,
  });
  const fitnessSetup = {
    runner: defaultRunner,
    graph: model.graph,
    points,
    units,
    inputName: model.inputName,
    outputName: model.outputName,
    batchSize: 100,
    simulate: (params: typeof table.params, feed?: ReadonlySet<string>) =>
      materialize(model.graph, points, params, { bake: true, feed, inputMeans: table.inputMeans }),
  };
  return { units, table, images, fitnessSetup };
}

for (const loss of ['infonce', 'mse'] as const) {
  test(`suffix fitness equals the full-model fitness for the same scales (${loss}, within 1e-5 relative)`, async () => {
    const { units, table, images, fitnessSetup } = await setup(4);
    const fitness = new Fitness(fitnessSetup, table.params, lossFunction(loss, 3));
    const scored = await fitness.score(images);
    const start = await fitness.full(table.params, scored, true);
    const rng = new Rng(5);
    for (const [u, unit] of units.entries()) {
      const ids = unit.points;
      const evaluator = await fitness.unit(u, ids, table.params, scored, start.unitInputs);
      const current = ids.map((id) => (table.params[id] as UniformParams).scale);
      const candidate = mutate(current, rng, 2e-3, 'absolute');
      const suffixCurrent = (await evaluator.evaluate(current))!.fitness;
      const suffixCandidate = (await evaluator.evaluate(candidate))!.fitness;
      await evaluator.release();
      const fullCandidate = (
        await fitness.full(withScales(table.params, Object.fromEntries(ids.map((id, i) => [id, candidate[i]]))), scored)
      ).fitness;
      const close = (a: number, b: number) => Math.abs(a - b) <= 1e-5 * Math.abs(b);
      assert.ok(close(suffixCurrent, start.fitness), `${unit.name}: suffix ${suffixCurrent} vs full ${start.fitness}`);
      assert.ok(
        close(suffixCandidate, fullCandidate),
        `${unit.name}: candidate suffix ${suffixCandidate} vs full ${fullCandidate}`,
      );
      assert.notEqual(suffixCandidate, suffixCurrent, 'the candidate changes the fitness');
    }
    assert.equal(fitness.forwards.suffix, units.length * 2);
    assert.equal(fitness.forwards.suffixEquivalent, units.length * 2);
  });
}

test('per-image terms average to the fitness; racing stops a clearly worse candidate early and never a tie', async () => {
  const { units, table, images, fitnessSetup } = await setup(4);
  // Batches of 25 images, so a race can stop after the first of several.
  const fitness = new Fitness({ ...fitnessSetup, batchSize: 25 }, table.params, lossFunction('kl', 1));
  const scored = await fitness.score(images);
  assert.ok(scored.ranges.length >= 4, `${scored.ranges.length} batches`);
  const start = await fitness.full(table.params, scored, true);
  const batchMeans = scored.ranges.map(([a, b]) => start.rows.subarray(a, b).reduce((s, v) => s + v, 0) / (b - a));
  assert.ok(
    Math.abs(batchMeans.reduce((s, v) => s + v, 0) / batchMeans.length - start.fitness) <= 1e-9 * start.fitness,
  );
  const u = units.length - 1;
  const ids = units[u].points;
  const evaluator = await fitness.unit(u, ids, table.params, scored, start.unitInputs, { z: 2, minImages: 25 });
  const current = ids.map((id) => (table.params[id] as UniformParams).scale);
  // Scales 8 times too small clip nearly everything: surely worse than the start.
  const broken = current.map((s) => s.map((v) => v / 8));
  const unraced = await evaluator.evaluate(broken);
  assert.ok(unraced && unraced.fitness > 2 * start.fitness, `broken ${unraced?.fitness} vs start ${start.fitness}`);
  const before = fitness.forwards.suffixEquivalent;
  assert.equal(await evaluator.evaluate(broken, start), undefined, 'a clearly worse candidate is stopped');
  const ran = fitness.forwards.suffixEquivalent - before;
  assert.ok(ran > 0 && ran < 1, `the stopped candidate ran ${ran} of an evaluation`);
  // The start against itself: every difference is 0, never above 2 standard errors.
  const tie = await evaluator.evaluate(current, start);
  assert.ok(tie && Math.abs(tie.fitness - start.fitness) <= 1e-5 * start.fitness);
  assert.equal(tie.rows.length, start.rows.length);
  await evaluator.release();
});

test('forwards run in pieces of forwardImages give the same references, fitness, per-image terms and logits as whole batches', async () => {
  const { units, table, images, fitnessSetup } = await setup(4);
  const loss = lossFunction('infonce', 3);
  const whole = new Fitness({ ...fitnessSetup, batchSize: 25 }, table.params, loss);
  const pieced = new Fitness({ ...fitnessSetup, batchSize: 25, forwardImages: 7 }, table.params, loss);
  const [a, b] = [await whole.score(images), await pieced.score(images)];
  assert.deepEqual(b.ranges, a.ranges);
  assert.deepEqual(b.pieces[0], [
    [0, 7],
    [7, 14],
    [14, 21],
    [21, 25],
  ]);
  for (const [i, pieces] of b.pieces.entries()) {
    assert.deepEqual(
      pieces.map(([s]) => s),
      [b.ranges[i][0], ...pieces.slice(0, -1).map(([, e]) => e)],
      `batch ${i}: pieces follow one another`,
    );
    assert.equal(pieces[pieces.length - 1][1], b.ranges[i][1], `batch ${i}: pieces end with the batch`);
    assert.ok(pieces.every(([s, e]) => e - s <= 7));
  }
  assert.deepEqual(
    a.pieces,
    a.ranges.map((r) => [r]),
    'without forwardImages a batch is one piece',
  );
  assert.deepEqual(
    b.reference.map((t) => t.dims),
    a.reference.map((t) => t.dims),
  );
  const close = (x: ArrayLike<number>, y: ArrayLike<number>, what: string) => {
    assert.equal(x.length, y.length, what);
    for (let i = 0; i < x.length; i++)
      assert.ok(Math.abs(x[i] - y[i]) <= 1e-5 * Math.max(1, Math.abs(y[i])), `${what}[${i}]: ${x[i]} vs ${y[i]}`);
  };
  for (const [i, t] of b.reference.entries()) close(t.data, a.reference[i].data, `reference ${i}`);
  const [fa, fb] = [await whole.full(table.params, a, true), await pieced.full(table.params, b, true)];
  close(fb.rows, fa.rows, 'per-image terms');
  close([fb.fitness], [fa.fitness], 'fitness');
  const u = units.length - 1;
  const ids = units[u].points;
  const candidate = mutate(
    ids.map((id) => (table.params[id] as UniformParams).scale),
    new Rng(3),
    2e-3,
    'absolute',
  );
  const [ea, eb] = [
    await whole.unit(u, ids, table.params, a, fa.unitInputs),
    await pieced.unit(u, ids, table.params, b, fb.unitInputs),
  ];
  const [sa, sb] = [(await ea.evaluate(candidate))!, (await eb.evaluate(candidate))!];
  await ea.release();
  await eb.release();
  close(sb.rows, sa.rows, 'candidate per-image terms');
  // Spilled pieces come back from disk as the same bytes: the same terms bit for bit.
  const spilling = new Fitness(
    { ...fitnessSetup, batchSize: 25, forwardImages: 7, unitInputBudget: 0, spillFolder: join(tempDir(), 'spill') },
    table.params,
    loss,
  );
  const fs = await spilling.full(table.params, b, true);
  const spilled = fs.unitInputs.report.spilledTensors;
  assert.ok(
    spilled > 0 && spilled % b.pieces.flat().length === 0,
    `${spilled} tensors spilled, the same number each of ${b.pieces.flat().length} pieces`,
  );
  const es = await spilling.unit(u, ids, table.params, b, fs.unitInputs);
  assert.deepEqual((await es.evaluate(candidate))!.rows, sb.rows);
  await es.release();
  spilling.releaseUnitInputs();
  const [la, lb] = [await whole.logits(table.params, a), await pieced.logits(table.params, b)];
  assert.deepEqual(
    lb.map((t) => t.dims),
    la.map((t) => t.dims),
  );
  for (const [i, t] of lb.entries()) close(t.data, la[i].data, `logits ${i}`);
});

test("a layer's float rise from the cached unit inputs is what a whole forward of the model without its quantizers measures", async () => {
  const { table, images, fitnessSetup } = await setup(4);
  const model = loadModel(DEFAULT_MODEL);
  const weights = fitnessSetup.points.filter((p) => p.kind === 'weight');
  // An MLP's second layer (its input quantizer goes with it) and an attention projection, both inside a unit.
  const chosen = [
    weights.find((p) => p.node.includes('blocks.1/mlp/fc2'))!,
    weights.find((p) => p.node.includes('blocks.2/attn/proj'))!,
  ];
  const floatSetup = (node: string) => {
    const points = withoutFloatLayers(fitnessSetup.points, (n: string) => n === node);
    return {
      ...fitnessSetup,
      points,
      units: findUnits(model.graph, points),
      simulate: (params: typeof table.params, feed?: ReadonlySet<string>) =>
        materialize(model.graph, points, params, { bake: true, feed, inputMeans: table.inputMeans }),
    };
  };
  const measured = await weightSensitivity({
    setup: fitnessSetup,
    base: table.params,
    lowered: chosen.map((point) => ({ point, params: {}, float: floatSetup(point.node) })),
    calibration: images,
    measure: 'kl',
    progress: silentProgress,
  });
  // Suffixes only: two float layers inside units cost less than two whole forwards beyond the base pass's two.
  assert.ok(measured.forwards < 4, `${measured.forwards} forwards`);
  const sliced = sliceBatch(images, 0, Math.min(SENSITIVITY_IMAGES, images.dims[0]));
  for (const point of chosen) {
    const fitness = new Fitness(floatSetup(point.node), table.params, lossFunction('kl', 1));
    const whole = (await fitness.full(table.params, await fitness.score(sliced))).fitness - measured.base;
    const rise = measured.rise[point.id][32];
    assert.ok(Math.abs(rise - whole) <= 1e-6 + 1e-3 * Math.abs(whole), `${point.node}: ${rise} against ${whole}`);
  }
});
