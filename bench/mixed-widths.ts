// `npm run bench:mixed-widths -- [MODEL] [--calib DIR] [--eval DIR] [--seed N]`: the first measurements for per-layer
// weight widths (issue 34). From the W8A8 baseline (8-bit weights on 7-bit levels), each weight quant point alone
// drops to 4 bits and its sensitivity is the rise in KL to float on the holdout images. Then the k least (and, to
// compare, the k most) sensitive points drop together, for k from none to all: model.onnx's size, top-1 and KL to
// float on the --eval images (default the bundled model and images), and its kernels, exported as quantize exports.
// Writes bench/results/mixed-widths.json and .md.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { prepare, calibrateBaseline } from '../src/pipeline/prepare.js';
import { exportModels } from '../src/pipeline/export-models.js';
import { decodeImages, listImageFolder } from '../src/data/imagefolder.js';
import { decodedSource, fileSource } from '../src/data/source.js';
import { evaluateAccuracy } from '../src/evaluate/evaluate.js';
import { materialize } from '../src/quant/materialize.js';
import { weightParams } from '../src/calibrate/observers/weights.js';
import { resolveOptions } from '../src/options/resolve.js';
import { defaultRunner, type Session } from '../src/runtime/runner.js';
import { cpuReport } from '../src/runtime/cpu.js';
import type { QuantParams } from '../src/quant/scheme.js';
import { ASSETS, DEFAULT_MODEL, ROOT } from '../test/helpers.js';

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    calib: { type: 'string', default: join(ASSETS, 'cifar10/calib') },
    eval: { type: 'string', default: join(ASSETS, 'cifar10/test') },
    seed: { type: 'string', default: '0' },
  },
});
const modelPath = positionals[0] ?? DEFAULT_MODEL;
const options = resolveOptions({ seed: Number(args.seed), floatFallback: false, speed: false });
const prepared = prepare({
  model: modelPath,
  calib: args.calib,
  options,
  holdout: { count: options.holdout, option: 'holdout' },
});
const { model, points } = prepared;
const runner = defaultRunner;
const calibration = await decodeImages(prepared.splits.calibration, model.preprocessing);
const holdout = await decodeImages(prepared.splits.holdout, model.preprocessing);
const table = await calibrateBaseline(runner, prepared, calibration, options);
const weights = points.filter((p) => p.kind === 'weight' && table.params[p.id]?.kind === 'uniform');

/** The baseline's params with `lowered` weight points at 4 bits (the same per-channel observer, fewer levels). */
function withFourBit(lowered: readonly string[]): Record<string, QuantParams> {
  const params = { ...table.params };
  for (const id of lowered) {
    const point = points.find((p) => p.id === id)!;
    const value = model.graph.constantValue(point.tensor)!;
    params[id] = { ...params[id], ...weightParams(value.values, value.dims, point.channelAxis!, 4) } as QuantParams;
  }
  return params;
}

/** KL to float (and top-1) of sessions over images: the float model is target 0. */
async function measure(sessions: Session[], source: ReturnType<typeof decodedSource>) {
  const targets = sessions.map((session) => ({ session, inputName: model.inputName, outputName: model.outputName }));
  return evaluateAccuracy(targets, source, 100, { reference: 0 });
}

const float = await runner.createSession(model.file);
const simulation = async (params: Record<string, QuantParams>) =>
  runner.createSession(
    materialize(model.graph, points, params, { bake: true, inputMeans: table.inputMeans }).graph.toBytes(),
  );

// Sensitivity: one point at a time, on the holdout images.
const base = await simulation(table.params);
const [, baseAccuracy] = await measure([float, base], decodedSource(holdout));
await base.release();
const baseKl = baseAccuracy.toReference!.kl!;
const sensitivity: { id: string; node: string; kl: number; rise: number }[] = [];
for (const point of weights) {
  const session = await simulation(withFourBit([point.id]));
  const [, accuracy] = await measure([float, session], decodedSource(holdout));
  await session.release();
  const kl = accuracy.toReference!.kl!;
  sensitivity.push({ id: point.id, node: point.node, kl, rise: kl - baseKl });
  console.error(`${point.id} ${point.node}: KL ${kl.toPrecision(4)} (+${(kl - baseKl).toPrecision(3)})`);
}
const ascending = [...sensitivity].sort((a, b) => a.rise - b.rise).map((s) => s.id);

// Assignments: the k least and the k most sensitive points at 4 bits, exported and evaluated on --eval.
const evalItems = listImageFolder(args.eval, model.labels).items;
const steps = [...new Set([0, 0.25, 0.5, 0.75, 1].map((f) => Math.round(f * weights.length)))];
const rows = [];
for (const k of steps)
  for (const order of k === 0 || k === weights.length ? ['least'] : ['least', 'most']) {
    const lowered = order === 'least' ? ascending.slice(0, k) : ascending.slice(ascending.length - k);
    const exported = await exportModels(runner, prepared, table, withFourBit(lowered), options);
    const session = await runner.createSession(exported.bytes);
    const [fp, accuracy] = await measure([float, session], fileSource(evalItems, model.preprocessing));
    await session.release();
    rows.push({
      fourBit: k,
      order,
      sizeRatio: exported.bytes.length / exported.floatBytes,
      top1: accuracy.top1,
      floatTop1: fp.top1,
      kl: accuracy.toReference!.kl!,
      kernels: exported.kernels,
    });
    console.error(`${k} ${order}: ${JSON.stringify(rows[rows.length - 1])}`);
  }
await float.release();

const pct = (x: number | null) => (x === null ? '—' : (100 * x).toFixed(2));
const lines = [
  `${relative(ROOT, model.file)}: ${weights.length} weight points, W8A8 baseline (7-bit levels) with some at 4 bits; seed ${args.seed}; CPU ${cpuReport().model}`,
  '',
  '| 4-bit points | which | size | top-1 | KL to float |',
  '|---|---|---|---|---|',
  ...rows.map(
    (r) =>
      `| ${r.fourBit} | ${r.fourBit === 0 ? 'none' : r.fourBit === weights.length ? 'all' : `the ${r.order} sensitive`} | ${(100 * r.sizeRatio).toFixed(1)}% | ${pct(r.top1)} | ${r.kl.toPrecision(3)} |`,
  ),
  '',
  `float top-1 ${pct(rows[0].floatTop1)}. Sensitivity (KL rise on ${holdout.dims[0]} holdout images when the point alone is 4-bit), least first:`,
  '',
  ...[...sensitivity].sort((a, b) => a.rise - b.rise).map((s) => `- ${s.node}: +${s.rise.toPrecision(3)}`),
];
const dir = join(ROOT, 'bench/results');
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, 'mixed-widths.json'), `${JSON.stringify({ cpu: cpuReport(), sensitivity, rows }, null, 2)}\n`);
writeFileSync(join(dir, 'mixed-widths.md'), `${lines.join('\n')}\n`);
console.log(lines.join('\n'));
