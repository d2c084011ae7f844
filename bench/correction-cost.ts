// `npm run build && node dist/bench/correction-cost.js [MODEL_DIR ...]`: what `--output-correction` costs at the
// default 4-bit-activation settings, in multiply-accumulates, against a search pass of the same settings; counted from
// the graph and one forward of one image, so it runs at 224 px in seconds. Default models: the folders under
// /work/models224 (written by ../shared/zoo/export_random.py). Prints a table; writes bench/results/correction-cost.json.
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve, dirname, basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModel } from '../src/model.js';
import { findQuantPoints } from '../src/quant/points.js';
import { findUnits } from '../src/quant/units.js';
import { resolveOptions } from '../src/options/resolve.js';
import { forwardCost } from '../src/fitness/cost.js';
import { defaultRunner } from '../src/runtime/runner.js';
import { correctedLayers, correctionFetches, OUTPUT_CORRECTION_IMAGES } from '../src/search/output-correction.js';
import { cutForwardMacs, wholePassMacs } from '../src/search/budget.js';
import type { QuantParams } from '../src/quant/scheme.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const MODELS224 = '/work/models224';

async function measure(dir: string) {
  const options = resolveOptions({ aBits: 4 });
  const model = loadModel(dir);
  const points = findQuantPoints(model.graph);
  const units = findUnits(model.graph, points, options.searchSpace);
  // Every weight is uniform in the default preset, so every MatMul, Gemm and Conv weight's layer is corrected.
  const params = Object.fromEntries(
    points.filter((p) => p.kind === 'weight').map((p) => [p.id, { kind: 'uniform' } as QuantParams]),
  );
  const { channels, height, width } = model.preprocessing;
  const image = { data: new Float32Array(channels * height * width), dims: [1, channels, height, width] };
  const cost = await forwardCost(
    defaultRunner,
    model.graph,
    model.inputName,
    image,
    units.map((u) => u.input),
  );
  const fetches = correctionFetches(model.graph, points, params);
  const images = OUTPUT_CORRECTION_IMAGES;
  const correction = cutForwardMacs(cost, images, fetches);
  const wholeModel = images * fetches.length * cost.perImage;
  // One pass without racing, as the search's budget counts it before a pass has run.
  const pass = wholePassMacs(cost, {
    calibrationImages: options.calibSize,
    holdoutImages: options.holdout,
    cycles: options.cycles,
  });
  const calibrationForward = options.calibSize * cost.perImage;
  return {
    model: basename(dir),
    size: `${height}×${width}`,
    layers: correctedLayers(model.graph, points, params).length,
    units: units.length,
    gmacsPerImage: cost.perImage / 1e9,
    correctionForwards: correction / calibrationForward,
    wholeModelForwards: wholeModel / calibrationForward,
    passForwards: pass / calibrationForward,
    correctionPerPass: correction / pass,
  };
}

async function main() {
  const dirs = process.argv.slice(2);
  if (!dirs.length && existsSync(MODELS224))
    dirs.push(
      ...readdirSync(MODELS224)
        .map((d) => join(MODELS224, d))
        .filter((d) => existsSync(join(d, 'model.onnx'))),
    );
  if (!dirs.length)
    throw new Error(`no models: pass model folders, or write ${MODELS224} with ../shared/zoo/export_random.py`);
  const rows = [];
  for (const dir of dirs) rows.push(await measure(dir));
  const f = (x: number, d = 2) => x.toFixed(d);
  const table = [
    `| model | size | GMACs per image | corrected layers | units | correction (cut forwards) | correction (whole-model forwards) | one pass, no racing | correction / pass |`,
    '|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.model} | ${r.size} | ${f(r.gmacsPerImage, 3)} | ${r.layers} | ${r.units} | ${f(r.correctionForwards)} | ${f(r.wholeModelForwards)} | ${f(r.passForwards)} | ${f(r.correctionPerPass)} |`,
    ),
    '',
    `in forwards of the ${resolveOptions({}).calibSize} calibration images, MACs of MatMul, Gemm and Conv; the correction on ${OUTPUT_CORRECTION_IMAGES} images at the --a-bits 4 defaults`,
  ].join('\n');
  console.log(table);
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench/results/correction-cost.json'), JSON.stringify(rows, null, 2) + '\n');
}

main().catch((e) => {
  console.error(`correction-cost: ${e instanceof Error ? e.message : e}`);
  process.exit(1);
});
