// `npm run bench`: simulation overhead, calibration time and peak memory on the bundled ViT.
// Writes bench/results/bench.json and bench/results/bench.md and prints the table.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpus } from 'node:os';
import { loadModel } from '../src/model.js';
import { findQuantPoints } from '../src/quant/points.js';
import { materialize, simulationFeeds } from '../src/quant/materialize.js';
import { calibrate } from '../src/calibrate/calibrate.js';
import { listImageFolder, drawSplits, decodeImages, sliceBatch } from '../src/data/imagefolder.js';
import { encodeModel } from '../src/onnx/proto.js';
import { defaultRunner, type Session, type FloatTensor } from '../src/runtime/runner.js';
import { DEFAULTS } from '../src/config.js';
import { Rng } from '../src/rng.js';

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
  const model = loadModel(MODEL);
  const points = findQuantPoints(model.graph);
  const folder = listImageFolder(CALIB, model.labels);
  const { calibration } = drawSplits(folder, 1000, 200, new Rng(0));

  let start = performance.now();
  const images = await decodeImages(calibration, model.preprocessing);
  const decodeSeconds = (performance.now() - start) / 1000;

  start = performance.now();
  const table = await calibrate(defaultRunner, model.graph, model.inputName, points, images, {
    wBits: 8, aBits: 8, observer: DEFAULTS.observer, ptf: DEFAULTS.ptf, lis: false, biasCorrection: false, batchSize: 100,
  });
  const calibrationSeconds = (performance.now() - start) / 1000;
  const peakRssMiB = process.resourceUsage().maxRSS / 1024;

  const simulation = materialize(model.graph, points, table.params);
  const float = await defaultRunner.createSession(model.file);
  const simulated = await defaultRunner.createSession(encodeModel(simulation.graph.toModel()).model);
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
    calibration: { images: 1000, decodeSeconds, calibrationSeconds, observer: DEFAULTS.observer, ptf: DEFAULTS.ptf, peakRssMiB },
  };
  const rows = [
    ['float forward, batch 100', `${floatPerSecond.toFixed(0)} images/s`],
    ['W8A8 simulation forward, batch 100', `${simPerSecond.toFixed(0)} images/s`],
    ['simulation cost / float cost', `${results.throughput.simulationCostRatio.toFixed(2)}x (target <= 1.5x)`],
    ['decode 1,000 calibration images', `${decodeSeconds.toFixed(2)} s`],
    [`calibrate 1,000 images (${DEFAULTS.observer}, PTF)`, `${calibrationSeconds.toFixed(2)} s`],
    ['peak RSS after calibration', `${peakRssMiB.toFixed(0)} MiB`],
  ];
  const markdown = [`| measure | value |`, `|---|---|`, ...rows.map(([k, v]) => `| ${k} | ${v} |`)].join('\n');
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, 'bench.json'), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(join(OUT, 'bench.md'), `${markdown}\n`);
  process.stdout.write(`${markdown}\n\nwrote ${join(OUT, 'bench.json')} and bench.md (${results.machine.cpus} cores, ${results.machine.cpu})\n`);
}

await main();
