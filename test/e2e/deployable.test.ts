import { test } from 'node:test';
import { weightLevelBits } from '../../src/quant/scheme.js';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { findQuantPoints } from '../../src/quant/points.js';
import { materialize } from '../../src/quant/materialize.js';
import { calibrate } from '../../src/calibrate/calibrate.js';
import { startParams } from '../../src/search/start.js';
import { deployableGraph } from '../../src/export/deployable.js';
import { chosenKernels } from '../../src/export/kernels.js';
import { defaultRunner } from '../../src/runtime/runner.js';
import { loadModel } from '../../src/model.js';
import { listImageFolder, limitPerClass, decodeImages } from '../../src/data/imagefolder.js';
import { maxAbsDiff, DEFAULT_MODEL, ASSETS, FIXTURES } from '../helpers.js';
import { runModel as run } from '../helpers.js';

test('exported ViT and ResNet match their simulations on real images and are at most 30% / 18% of the float file', async () => {
  const model = loadModel(DEFAULT_MODEL);
  const folder = listImageFolder(join(ASSETS, 'cifar10/calib'), model.labels);
  const images = await decodeImages(limitPerClass(folder, 100), model.preprocessing);
  for (const dir of [DEFAULT_MODEL, join(FIXTURES, 'resnet-cifar10-small')]) {
    const m = loadModel(dir);
    const points = findQuantPoints(m.graph);
    const floatBytes = m.graph.toBytes().length;
    for (const wBits of [8, 4]) {
      const table = await calibrate(defaultRunner, m.graph, m.inputName, points, images, {
        wBits: weightLevelBits(wBits, true),
        aBits: 8,
        observer: 'omse',
        ptf: true,
        lis: false,
        biasCorrection: true,
        batchSize: 50,
      });
      const sim = materialize(m.graph, points, table.params, { bake: true, inputMeans: table.inputMeans }).graph;
      const deployed = deployableGraph(m.graph, points, table.params, table.inputMeans);
      const bytes = deployed.graph.toBytes();
      const limit = wBits === 8 ? 0.3 : 0.18;
      assert.ok(
        bytes.length <= limit * floatBytes,
        `${dir} W${wBits}: ${bytes.length} bytes, ${(bytes.length / floatBytes).toFixed(3)} of float`,
      );
      const x = { data: images.data.subarray(0, 50 * 3 * 32 * 32), dims: [50, 3, 32, 32] };
      const expected = (await run(sim, { [m.inputName]: x }))[m.outputName].data;
      const actual = (await run(bytes, { [m.inputName]: x }))[m.outputName].data;
      const argmax = (t: Float32Array, i: number) => {
        const row = t.subarray(i * 10, i * 10 + 10);
        return row.indexOf(Math.max(...row));
      };
      const agree = Array.from({ length: 50 }, (_, i) => argmax(actual, i) === argmax(expected, i)).filter(
        Boolean,
      ).length;
      assert.ok(agree >= 49, `${dir} W${wBits}: ${agree}/50 predictions agree with the simulation`);
      if (dir === DEFAULT_MODEL)
        assert.ok(
          deployed.floatSubgraphs.some((f) => f.kind === 'ptf'),
          'PTF is listed as a float subgraph',
        );
      const kernels = await chosenKernels(defaultRunner, bytes);
      if (wBits === 8)
        assert.ok(
          Object.keys(kernels).some((k) => /QLinear|Integer/.test(k)),
          `W8 runs integer kernels: ${JSON.stringify(kernels)}`,
        );
    }
  }
});

test("the fitted start's activations at 4 bits: a PTF on what a MatMul reads multiplies the weight rows, the softmax is log√2; export and simulation agree with onnxruntime optimizing, no MatMulNBits", async () => {
  const model = loadModel(DEFAULT_MODEL);
  const folder = listImageFolder(join(ASSETS, 'cifar10/calib'), model.labels);
  const images = await decodeImages(limitPerClass(folder, 50), model.preprocessing);
  const points = findQuantPoints(model.graph);
  const table = await calibrate(defaultRunner, model.graph, model.inputName, points, images, {
    wBits: 4,
    aBits: 4,
    observer: 'omse',
    ptf: true,
    lis: false,
    biasCorrection: false,
    batchSize: 100,
    ptfRefit: true,
  });
  const refitted = Object.keys(table.refittedPtf!).filter(
    (id) => points.find((p) => p.id === id)!.kind === 'activation',
  );
  const byId = new Map(points.map((p) => [p.id, p]));
  const consumers = (id: string) =>
    byId.get(id)!.consumers.map((name) => model.graph.nodes.find((n) => n.name === name)!);
  assert.ok(
    refitted.length > 0 && refitted.every((id) => consumers(id).every((n) => n.opType === 'MatMul')),
    `refitted activations ${refitted}`,
  );
  assert.ok(
    points.some((p) => p.kind === 'activation' && !refitted.includes(p.id)),
    'what a Gemm or Conv reads is not refitted',
  );
  // The fitted start's activation quantizers; its corrected weights are left out, since the export adds their offset
  // in another order and, at 4-bit activations, a rounding apart flips levels (those runs agree in top-1, not bits).
  const fitted = startParams(model.graph, points, table.params, 'fitted', table.refittedPtf);
  const params = Object.fromEntries(points.map((p) => [p.id, p.kind === 'weight' ? table.params[p.id] : fitted[p.id]]));
  const softmaxes = points.filter((p) => p.kind === 'softmax');
  assert.ok(softmaxes.length > 0 && softmaxes.every((p) => params[p.id].kind === 'log2'));
  const sim = materialize(model.graph, points, params, { bake: true }).graph;
  // qkv, proj, fc1 and fc2 of every block read a refitted activation against a constant weight.
  const onWeights = sim.nodes.filter((n) => n.opType === 'Mul' && n.name.includes('/ptf_weight'));
  assert.equal(onWeights.length, 4 * model.graph.nodes.filter((n) => n.opType === 'Softmax').length);
  const deployed = deployableGraph(model.graph, points, params);
  assert.ok(deployed.floatSubgraphs.filter((f) => f.kind === 'ptf').length >= refitted.length);
  assert.equal(deployed.floatSubgraphs.filter((f) => f.kind === 'log2').length, softmaxes.length);
  const bytes = deployed.graph.toBytes();
  const kernels = await chosenKernels(defaultRunner, bytes);
  assert.ok(
    !Object.keys(kernels).some((k) => k.includes('MatMulNBits')),
    `a float MatMul of 4-bit weights would become MatMulNBits, which requantizes its input: ${JSON.stringify(kernels)}`,
  );
  const x = { data: images.data, dims: images.dims };
  const expected = (await run(sim, { [model.inputName]: x }))[model.outputName].data;
  const actual = (await run(bytes, { [model.inputName]: x }))[model.outputName].data;
  const range = Math.max(...expected.map(Math.abs));
  assert.ok(maxAbsDiff(actual, expected) <= 1e-4 * range, `max diff ${maxAbsDiff(actual, expected)} of range ${range}`);
});
