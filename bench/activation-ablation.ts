// `node dist/bench/activation-ablation.js MODEL --calib DIR [--w-bits 4] [--a-bits 4] [--calib-size 1000] [--seed 0]
// [--start baseline|corrected|fitted]`: where the loss of low-bit activations comes from. Calibrates the baseline
// twice (activations at --a-bits and at 8), takes the search's start from each (src/search/start.ts), then
// prints the calibration-set KL of the float from the quantized softmax with every activation at --a-bits, with
// every one at 8, and per role of activation point: that role alone back at 8 bits, and that role alone at
// --a-bits (the rest at 8). Roles are read from the point kinds and the timm-style tensor names.
import { parseArgs } from 'node:util';
import { prepare, calibrateBaseline } from '../src/pipeline/prepare.js';
import { decodeImages } from '../src/data/imagefolder.js';
import { defaultRunner } from '../src/runtime/runner.js';
import { resolveOptions } from '../src/options/resolve.js';
import { Fitness } from '../src/fitness/fitness.js';
import { lossFunction } from '../src/fitness/losses.js';
import { materialize } from '../src/quant/materialize.js';
import type { QuantPoint } from '../src/quant/points.js';
import type { QuantParams } from '../src/quant/scheme.js';
import { startParams, START_NAMES, type StartName } from '../src/search/start.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    calib: { type: 'string' },
    'w-bits': { type: 'string', default: '4' },
    'a-bits': { type: 'string', default: '4' },
    'calib-size': { type: 'string', default: '1000' },
    seed: { type: 'string', default: '0' },
    start: { type: 'string', default: 'baseline' },
  },
});
if (positionals.length !== 1 || !values.calib) {
  console.error(
    'usage: node dist/bench/activation-ablation.js MODEL --calib DIR [--w-bits 4] [--a-bits 4] [--calib-size 1000] [--seed 0] [--start baseline|corrected|fitted]',
  );
  process.exit(2);
}

function role(p: QuantPoint): string {
  if (p.kind !== 'activation') return p.kind === 'layernorm' ? 'LayerNorm input (PTF)' : p.kind;
  const rules: [RegExp, string][] = [
    [/norm1\/LayerNorm/, 'LayerNorm 1 output (qkv input)'],
    [/norm2\/LayerNorm/, 'LayerNorm 2 output (fc1 input)'],
    [/attn\/Gather_3/, 'Q'],
    [/attn\/Transpose_1/, 'K'],
    [/attn\/Gather_5/, 'V'],
    [/attn\/Reshape_1/, 'projection input'],
    [/mlp\/act\//, 'GELU output (fc2 input)'],
  ];
  return rules.find(([re]) => re.test(p.tensor))?.[1] ?? `other (${p.tensor})`;
}

const start = values.start as StartName;
if (!START_NAMES.includes(start)) {
  console.error(`--start: expected one of ${START_NAMES.join(', ')}, got '${values.start}'`);
  process.exit(2);
}
const base = {
  wBits: Number(values['w-bits']) as 8 | 4 | 3,
  calibSize: Number(values['calib-size']),
  seed: Number(values.seed),
  method: 'evolq' as const,
  start,
};
const low = resolveOptions({ ...base, aBits: Number(values['a-bits']) as 8 | 4 });
const high = resolveOptions({ ...base, aBits: 8 });
const prepared = prepare({
  model: positionals[0],
  calib: values.calib,
  options: low,
  holdout: { count: 0, option: 'holdout' },
});
const { model, points, units } = prepared;
const images = await decodeImages(prepared.splits.calibration, model.preprocessing);
const startOf = async (options: typeof low) => {
  const table = await calibrateBaseline(defaultRunner, prepared, images, options);
  return { ...table, params: startParams(model.graph, points, table.params, start, table.refittedPtf) };
};
const lowTable = await startOf(low);
const highTable = await startOf(high);
const fitness = new Fitness(
  {
    runner: defaultRunner,
    graph: model.graph,
    points,
    units,
    inputName: model.inputName,
    outputName: model.outputName,
    batchSize: low.batchSize,
    simulate: (params, feed) =>
      materialize(model.graph, points, params, { bake: true, feed, inputMeans: lowTable.inputMeans }),
  },
  lowTable.params,
  lossFunction('kl', 1),
);
const scored = await fitness.score(images);
const kl = async (params: Record<string, QuantParams>) => (await fitness.full(params, scored)).fitness;
/** `from` with the points of `r` taken from `to`. */
const swap = (from: Record<string, QuantParams>, to: Record<string, QuantParams>, r: string) =>
  Object.fromEntries(
    Object.entries(from).map(([id, p]) => [id, role(points.find((q) => q.id === id)!) === r ? to[id] : p]),
  );

const a = low.aBits;
console.log(`${model.file}: W${low.wBits}, start ${start}, calibration KL on ${images.dims[0]} images`);
console.log(
  `every activation at ${a} bits: ${(await kl(lowTable.params)).toFixed(5)}; every one at 8: ${(await kl(highTable.params)).toFixed(5)}`,
);
console.log(`| role | points | this role back at 8 | only this role at ${a} |\n|---|---|---|---|`);
for (const r of [...new Set(points.filter((p) => p.kind !== 'weight').map(role))]) {
  const count = points.filter((p) => role(p) === r).length;
  console.log(
    `| ${r} | ${count} | ${(await kl(swap(lowTable.params, highTable.params, r))).toFixed(5)} | ${(await kl(swap(highTable.params, lowTable.params, r))).toFixed(5)} |`,
  );
}
