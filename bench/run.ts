// `npm run bench`: simulation overhead, calibration time and peak memory on the bundled ViT.
// Writes bench/results/bench.json and bench/results/bench.md and prints the table.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpus } from 'node:os';
import { prepare, calibrateBaseline, type Prepared } from '../src/pipeline/prepare.js';
import { materialize, simulationFeeds } from '../src/quant/materialize.js';
import { decodeImages, sliceBatch } from '../src/data/imagefolder.js';
import { defaultRunner, type Session, type FloatTensor } from '../src/runtime/runner.js';
import { DEFAULTS, resolveOptions } from '../src/options/resolve.js';
import type { QuantizeOptions } from '../src/options/table.js';
import { Rng } from '../src/rng.js';
import { Fitness } from '../src/fitness/fitness.js';
import { lossFunction } from '../src/fitness/losses.js';
import { evolqSearch } from '../src/search/search.js';
import { searchSettings } from '../src/search/settings.js';
import { forTask } from '../src/options/task-defaults.js';
import type { CalibrationTable } from '../src/calibrate/table.js';
import { deployableGraph } from '../src/export/deployable.js';
import { chosenKernels, layerKernels } from '../src/export/kernels.js';
import type { ImageBatch } from '../src/data/imagefolder.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const MODEL = join(ROOT, 'assets/vit-cifar10');
const CALIB = join(ROOT, 'assets/cifar10/calib');
const OUT = join(ROOT, 'bench/results');

async function secondsPerRun(session: Session, feeds: Record<string, FloatTensor>, repeats: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    await session.run(feeds);
    times.push((performance.now() - start) / 1000);
  }
  return times;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const options = resolveOptions({ calibSize: 1000, holdout: 200, seed: 0 });
  const prepared = prepare({
    model: MODEL,
    calib: CALIB,
    options,
    holdout: { count: options.holdout, option: 'holdout' },
  });
  const { model, points } = prepared;
  const { calibration } = prepared.splits;

  let start = performance.now();
  const images = await decodeImages(calibration, model.preprocessing);
  const decodeSeconds = (performance.now() - start) / 1000;

  start = performance.now();
  const table = await calibrateBaseline(defaultRunner, prepared, images, options);
  const calibrationSeconds = (performance.now() - start) / 1000;
  const peakRssMiB = process.resourceUsage().maxRSS / 1024;

  const simulation = materialize(model.graph, points, table.params);
  const float = await defaultRunner.createSession(model.file);
  const simulated = await defaultRunner.createSession(simulation.graph.toBytes());
  const batch = sliceBatch(images, 0, 100);
  const pixels = { [model.inputName]: { data: batch.data, dims: batch.dims } };
  const simFeeds = { ...pixels, ...simulationFeeds(simulation, points, table.params) };
  await secondsPerRun(float, pixels, 3);
  await secondsPerRun(simulated, simFeeds, 3);
  // Interleave rounds so both see the same machine state.
  const floatTimes: number[] = [];
  const simTimes: number[] = [];
  for (let round = 0; round < 5; round++) {
    floatTimes.push(...(await secondsPerRun(float, pixels, 6)));
    simTimes.push(...(await secondsPerRun(simulated, simFeeds, 6)));
  }
  await float.release();
  await simulated.release();

  const exported = await exportBench(prepared, images, table, options);
  const search = await searchBench(prepared, images, options);

  const floatPerSecond = 100 / median(floatTimes);
  const simPerSecond = 100 / median(simTimes);
  const results = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version },
    model: 'assets/vit-cifar10 (timm ViT, dim 128, depth 6)',
    throughput: {
      batch: 100,
      floatImagesPerSecond: floatPerSecond,
      w8a8SimulationImagesPerSecond: simPerSecond,
      simulationCostRatio: floatPerSecond / simPerSecond,
      target: 'simulation cost <= 1.5x float',
      runs: floatTimes.length,
    },
    calibration: {
      images: 1000,
      decodeSeconds,
      calibrationSeconds,
      observer: DEFAULTS.observer,
      ptf: DEFAULTS.ptf,
      peakRssMiB,
    },
    exported,
    search,
  };
  const rows = [
    ['float forward, batch 100', `${floatPerSecond.toFixed(0)} images/s`],
    ['W8A8 simulation forward, batch 100', `${simPerSecond.toFixed(0)} images/s`],
    ['simulation cost / float cost', `${results.throughput.simulationCostRatio.toFixed(2)}x (target <= 1.5x)`],
    ['decode 1,000 calibration images', `${decodeSeconds.toFixed(2)} s`],
    [`calibrate 1,000 images (${DEFAULTS.observer}, PTF)`, `${calibrationSeconds.toFixed(2)} s`],
    ['peak RSS after calibration', `${peakRssMiB.toFixed(0)} MiB`],
    ...exported.models.map((m) => [
      `${m.name}: latency batch 1 / throughput batch 100`,
      `${m.batch1Ms.toFixed(2)} ms / ${m.batch100ImagesPerSecond.toFixed(0)} images/s (${m.bytes} bytes, ${(100 * m.sizeRatio).toFixed(1)}% of float)`,
    ]),
    ...exported.models
      .filter((m) => m.name !== 'float')
      .map((m) => [`${m.name}: layer kernels onnxruntime chose`, m.layerKernels]),
    ...search.units.map((u) => [
      `fitness evaluation, ${u.name}: suffix / full`,
      `${u.suffixSeconds.toFixed(3)} s / ${search.fullSeconds.toFixed(3)} s = ${u.ratio.toFixed(2)}`,
    ]),
    [
      'Evol-Q search, W4A8, default settings (10 passes, 6 units, 3 cycles)',
      `${search.totalSeconds.toFixed(1)} s, ${search.evaluations} evaluations`,
    ],
    [
      'calibration-set forwards per pass: evolq / reference code structure',
      `${search.forwardsPerPass.evolq.toFixed(1)} / ${search.forwardsPerPass.reference.toFixed(1)}`,
    ],
  ];
  const markdown = [`| measure | value |`, `|---|---|`, ...rows.map(([k, v]) => `| ${k} | ${v} |`)].join('\n');
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, 'bench.json'), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(join(OUT, 'bench.md'), `${markdown}\n`);
  process.stdout.write(
    `${markdown}\n\nwrote ${join(OUT, 'bench.json')} and bench.md (${results.machine.cpus} cores, ${results.machine.cpu})\n`,
  );
}

/**
 * The exported models (OUT/model.onnx) at W8A8 and W4A8 against the float model in onnxruntime-node: latency at
 * batch 1, throughput at batch 100 (rounds interleaved so all see the same machine state), size, and kernels.
 */
async function exportBench(prepared: Prepared, images: ImageBatch, w8: CalibrationTable, options: QuantizeOptions) {
  const { model, points } = prepared;
  const w4 = await calibrateBaseline(defaultRunner, prepared, images, { ...options, wBits: 4 });
  const floatBytes = model.graph.toBytes();
  const candidates = [
    { name: 'float', bytes: floatBytes },
    { name: 'exported W8A8', bytes: deployableGraph(model.graph, points, w8.params).graph.toBytes() },
    { name: 'exported W4A8', bytes: deployableGraph(model.graph, points, w4.params).graph.toBytes() },
  ];
  const sessions = await Promise.all(candidates.map((c) => defaultRunner.createSession(c.bytes)));
  const feeds = (n: number) => {
    const batch = sliceBatch(images, 0, n);
    return { [model.inputName]: { data: batch.data, dims: batch.dims } };
  };
  const one = feeds(1);
  const hundred = feeds(100);
  const batch1 = candidates.map(() => [] as number[]);
  const batch100 = candidates.map(() => [] as number[]);
  for (const s of sessions) await secondsPerRun(s, hundred, 2);
  for (let round = 0; round < 5; round++) {
    for (const [i, s] of sessions.entries()) {
      batch1[i].push(...(await secondsPerRun(s, one, 20)));
      batch100[i].push(...(await secondsPerRun(s, hundred, 4)));
    }
  }
  for (const s of sessions) await s.release();
  const models = [];
  for (const [i, c] of candidates.entries()) {
    const kernels = await chosenKernels(defaultRunner, c.bytes);
    models.push({
      name: c.name,
      bytes: c.bytes.length,
      sizeRatio: c.bytes.length / floatBytes.length,
      batch1Ms: 1000 * median(batch1[i]),
      batch100ImagesPerSecond: 100 / median(batch100[i]),
      runs: { batch1: batch1[i].length, batch100: batch100[i].length },
      kernels,
      layerKernels: layerKernels(kernels),
    });
  }
  return { threads: cpus().length, models };
}

/** Seconds per fitness evaluation (1,000 images) for each unit's suffix against the full model, and a default search. */
async function searchBench(prepared: Prepared, images: ImageBatch, options: QuantizeOptions) {
  const { model, points, units } = prepared;
  const table: CalibrationTable = await calibrateBaseline(defaultRunner, prepared, images, { ...options, wBits: 4 });
  const setup = {
    runner: defaultRunner,
    graph: model.graph,
    points,
    units,
    inputName: model.inputName,
    outputName: model.outputName,
    batchSize: 100,
    simulate: (params: CalibrationTable['params'], feed?: ReadonlySet<string>) =>
      materialize(model.graph, points, params, { bake: true, feed }),
  };
  const fitness = new Fitness(setup, table.params, lossFunction('infonce', 3));
  const scored = await fitness.score(images);
  const start = await fitness.full(table.params, scored, true);
  // The whole quantized model over the 1,000 images, as the reference code runs it for every candidate.
  const fullSession = await defaultRunner.createSession(setup.simulate(table.params).graph.toBytes());
  const fullTimes: number[] = [];
  for (let i = 0; i < 6; i++) {
    const t = performance.now();
    for (let start = 0; start < images.dims[0]; start += 100) {
      const b = sliceBatch(images, start, Math.min(images.dims[0], start + 100));
      await fullSession.run({ [model.inputName]: { data: b.data, dims: b.dims } }, [model.outputName]);
    }
    if (i > 0) fullTimes.push((performance.now() - t) / 1000);
  }
  await fullSession.release();
  const fullSeconds = median(fullTimes);
  const unitRows = [];
  for (const [u, unit] of units.entries()) {
    const evaluator = await fitness.unit(u, unit.points, table.params, scored, start.unitInputs);
    const scales = unit.points.map((id) => (table.params[id] as { scale: Float32Array }).scale);
    await evaluator.evaluate(scales);
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      await evaluator.evaluate(scales);
      times.push((performance.now() - t) / 1000);
    }
    await evaluator.release();
    unitRows.push({ name: unit.name, suffixSeconds: median(times), ratio: median(times) / fullSeconds });
  }
  const holdoutImages = await decodeImages(prepared.splits.holdout, model.preprocessing);
  const { report } = await evolqSearch(
    { ...setup, calibration: images, holdout: holdoutImages },
    table.params,
    searchSettings(forTask({ ...DEFAULTS, wBits: 4 }, 'image-classification')),
    { rng: new Rng(0) },
  );
  // Per pass, in forwards over the calibration set: evolq runs each unit's suffix per candidate, one full forward
  // to cache unit inputs and a holdout forward; the reference code runs the whole model for the unit's start and
  // every candidate, then validates on the test split (10,000 images here: 10 calibration sets) after every unit.
  const suffixShare = unitRows.reduce((sum, u) => sum + u.ratio, 0);
  const calibCount = images.dims[0];
  const evolqPerPass = 1 + DEFAULTS.cycles * suffixShare + options.holdout / calibCount;
  const referencePerPass = units.length * (1 + DEFAULTS.cycles) + units.length * (10_000 / calibCount);
  return {
    fullSeconds,
    units: unitRows,
    totalSeconds: report.seconds,
    evaluations: report.evaluations,
    forwards: report.forwards,
    forwardsPerPass: { evolq: evolqPerPass, reference: referencePerPass },
  };
}

await main();
