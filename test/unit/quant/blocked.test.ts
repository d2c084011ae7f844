import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph } from '../../../src/onnx/graph.js';
import { findQuantPoints } from '../../../src/quant/points.js';
import { materialize, simulationFeeds } from '../../../src/quant/materialize.js';
import { blockedWeightParams } from '../../../src/calibrate/observers/weights.js';
import { fakeQuantUniform, uintRange } from '../../../src/quant/scheme.js';
import { defaultRunner } from '../../../src/runtime/runner.js';
import { Rng } from '../../../src/rng.js';
import { buildModel, randomTensor } from '../../helpers.js';

test('the simulation quantizes a blocked weight exactly as the per-block reference, baked or fed', async () => {
  const rng = new Rng(4);
  const [K, N] = [64, 3];
  const weight = randomTensor(rng, K * N, 0.7);
  const graph = new Graph(
    buildModel({
      inputs: [{ name: 'x', shape: [K, K] }],
      outputs: ['y'],
      inits: [{ name: 'W', dims: [K, N], values: weight }],
      nodes: [{ op: 'MatMul', inputs: ['x', 'W'], outputs: ['y'] }],
    }),
  );
  const points = findQuantPoints(graph).filter((p) => p.kind === 'weight');
  const params = { [points[0].id]: blockedWeightParams(weight, [K, N], 32, 4) };
  // x = identity, so y is the fake-quantized weight itself.
  const identity = Float32Array.from({ length: K * K }, (_, i) => (i % (K + 1) === 0 ? 1 : 0));
  const p = params[points[0].id];
  const reference = fakeQuantUniform(
    weight,
    p.scale,
    p.zeroPoint,
    uintRange(4),
    (i) => Math.floor(i / N / 32) * N + (i % N),
  );
  for (const feed of [false, true]) {
    const sim = materialize(graph, points, params, { bake: true, feed: feed ? new Set([points[0].id]) : undefined });
    const session = await defaultRunner.createSession(sim.graph.toBytes());
    const y = (await session.run({ x: { data: identity, dims: [K, K] }, ...simulationFeeds(sim, points, params) })).y
      .data;
    await session.release();
    assert.deepEqual([...y], [...reference], feed ? 'fed' : 'baked');
  }
});
