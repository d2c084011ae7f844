// `npm run bench:exactness [-- --images N] [--keep DIR] [--models a,b] [--no-qemu] [--judged-only]`: does model.onnx compute the
// simulated model on every runtime? Each model (vit-cifar10, resnet-cifar10 from the zoo when present, the LeViT
// fixture) is quantized at W8A8, W4A8 (the defaults) and W8A8 with full-range weights (--no-reduce-range), then the
// float model, simulation.onnx and model.onnx classify the bundled test images (N of them, class-balanced; default
// all 2,000): model.onnx in onnxruntime-node on this CPU, in onnxruntime-web's wasm backend in Node, and in
// onnxruntime-node under qemu's AVX2-only CPU (no VNNI: saturating uint8 × int8 kernels). Per runtime: top-1, KL to
// float, agreement with float, and the differences to the simulation's. Writes bench/results/exactness.json and .md.
// --keep DIR keeps the quantized folders (DIR/<model>/<setting>) and reuses those it finds; --judged-only leaves out
// the full-range rows.
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { quantize, type QuantizeReport } from '../src/pipeline/quantize.js';
import { loadModel } from '../src/model.js';
import { batchRanges, decodeImages, limitPerClass, listImageFolder } from '../src/data/imagefolder.js';
import type { GivenOptions } from '../src/options/table.js';
import { cpuReport } from '../src/runtime/cpu.js';
import {
  nodeSession,
  qemuLogits,
  qemuVersion,
  webSession,
  QEMU_CPU,
  type LogitsSession,
} from './exactness-runtimes.js';
import { comparedRow, measures, toNode, type Row } from './exactness-metrics.js';
import { writeResults, type ModelResult, type SettingRun } from './exactness-report.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const RESULTS = join(ROOT, 'bench/results');
const CALIB = join(ROOT, 'assets/cifar10/calib');
const TEST = join(ROOT, 'assets/cifar10/test');
const MODELS = [
  { name: 'vit-cifar10', dir: join(ROOT, 'assets/vit-cifar10') },
  { name: 'resnet-cifar10', dir: '/work/shared/zoo/resnet-cifar10' },
  { name: 'levit', dir: join(ROOT, 'test/fixtures/models/levit') },
];
/** judged: the default settings, which TARGETS apply to; full range is there to show what it does without VNNI. */
const SETTINGS: { name: string; slug: string; options: GivenOptions; judged: boolean }[] = [
  { name: 'W8A8', slug: 'w8a8', options: {}, judged: true },
  { name: 'W4A8', slug: 'w4a8', options: { wBits: 4 }, judged: true },
  { name: 'W8A8 full range', slug: 'w8a8-full-range', options: { reduceRange: false }, judged: false },
];
const CHUNK = 250;
const hasVnni = (() => {
  const flags = cpuReport().flags;
  return flags !== 'unknown' && (flags.avx512_vnni || flags.avx_vnni || flags.amx_tile);
})();
const RUNTIMES = {
  float: 'float (node)',
  simulation: 'simulation.onnx (node)',
  node: `model.onnx node (this CPU${hasVnni ? ', VNNI' : ', no VNNI'})`,
  web: 'model.onnx wasm (onnxruntime-web)',
  qemu: `model.onnx qemu ${QEMU_CPU} (AVX2)`,
};

const started = performance.now();
const seconds = (since: number) => Math.round((performance.now() - since) / 100) / 10;
const log = (message: string) => process.stderr.write(`[${seconds(started).toFixed(0)} s] ${message}\n`);

function args() {
  const argv = process.argv.slice(2);
  const take = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv.splice(i, 2)[1] : undefined;
  };
  const images = Number(take('--images') ?? 2000);
  if (!Number.isInteger(images) || images < 1) throw new RangeError(`--images must be an integer >= 1`);
  const keep = take('--keep');
  const names = MODELS.map((m) => m.name);
  const wanted = take('--models')?.split(',') ?? names;
  for (const name of wanted)
    if (!names.includes(name)) throw new RangeError(`--models: "${name}". Should be some of: ${names.join(', ')}.`);
  const qemu = !argv.includes('--no-qemu') && qemuVersion() !== undefined;
  const settings = argv.includes('--judged-only') ? SETTINGS.filter((s) => s.judged) : SETTINGS;
  return { images, keep, models: MODELS.filter((m) => wanted.includes(m.name)), qemu, settings };
}
type Args = ReturnType<typeof args>;

/** Quantizes the model at a setting, or reuses the folder --keep holds. */
async function quantized(model: (typeof MODELS)[number], setting: (typeof SETTINGS)[number], work: string, n: number) {
  const folder = join(work, model.name, setting.slug);
  const reused = existsSync(join(folder, 'report.json'));
  const start = performance.now();
  const report: QuantizeReport = reused
    ? JSON.parse(readFileSync(join(folder, 'report.json'), 'utf8'))
    : await quantize({
        model: model.dir,
        calib: CALIB,
        eval: TEST,
        out: folder,
        // Exactness is the integer kernels' property: every layer integer, whatever this CPU's timing would keep float.
        options: {
          speed: false,
          floatFallback: false,
          keepSimulation: true,
          method: 'baseline',
          evalLimit: n,
          ...setting.options,
        },
      });
  log(`${model.name} ${setting.name}: ${reused ? 'reused' : 'quantized'} ${folder}`);
  return {
    name: setting.name,
    options: setting.options,
    folder,
    quantizeSeconds: reused ? null : seconds(start),
    saturable: report.exported.saturable,
    warnings: report.warnings,
  };
}

/**
 * The logits of each native session on the images, decoded CHUNK at a time; each chunk is also appended to `feed`
 * (raw float32) for the qemu child.
 */
async function nativeLogits(
  dir: string,
  sessions: Record<string, LogitsSession>,
  n: number,
  feed: string | undefined,
): Promise<{ logits: Record<string, Float32Array>; labels: Int32Array; imageDims: number[]; classes: number }> {
  const model = loadModel(dir);
  const items = limitPerClass(listImageFolder(TEST, model.labels), n);
  const parts: Record<string, Float32Array[]> = Object.fromEntries(Object.keys(sessions).map((k) => [k, []]));
  const labels = new Int32Array(items.length);
  let imageDims: number[] = [];
  for (const [start, end] of batchRanges(items.length, CHUNK)) {
    const images = await decodeImages(items.slice(start, end), model.preprocessing);
    labels.set(images.labels, start);
    imageDims = images.dims.slice(1);
    if (feed) appendFileSync(feed, new Uint8Array(images.data.buffer, images.data.byteOffset, images.data.byteLength));
    for (const [key, session] of Object.entries(sessions)) parts[key].push(await session.run(images));
  }
  const logits = Object.fromEntries(Object.entries(parts).map(([k, p]) => [k, concat(p)]));
  return { logits, labels, imageDims, classes: logits.float.length / items.length };
}

function concat(parts: readonly Float32Array[]): Float32Array {
  const all = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    all.set(p, offset);
    offset += p.length;
  }
  return all;
}

/** Opens the float model's session and, per setting, simulation.onnx's and model.onnx's in node and in wasm. */
async function openSessions(dir: string, runs: readonly SettingRun[]): Promise<Record<string, LogitsSession>> {
  const sessions: Record<string, LogitsSession> = { float: await nodeSession(loadModel(dir).file) };
  for (const [i, run] of runs.entries()) {
    sessions[`${i}/simulation`] = await nodeSession(join(run.folder, 'simulation.onnx'));
    sessions[`${i}/node`] = await nodeSession(join(run.folder, 'model.onnx'));
    sessions[`${i}/web`] = await webSession(join(run.folder, 'model.onnx'));
  }
  return sessions;
}

/** A queue of one: qemu children run one at a time, beside the next model's native work. */
let qemuQueue: Promise<unknown> = Promise.resolve();

/** Quantizes the model at each setting and runs its native runtimes now; its qemu rows come when its children end. */
async function benchModel(
  model: (typeof MODELS)[number],
  opts: Args,
  work: string,
): Promise<{ result: Promise<ModelResult> }> {
  if (!existsSync(join(model.dir, 'model.onnx'))) {
    log(`${model.name}: skipped, no ${model.dir}/model.onnx`);
    return { result: Promise.resolve({ ...model, skipped: `no ${model.dir}/model.onnx`, settings: [], rows: [] }) };
  }
  const runs: SettingRun[] = [];
  for (const setting of opts.settings) runs.push(await quantized(model, setting, work, opts.images));
  const feed = opts.qemu ? join(work, model.name, 'feed.f32') : undefined;
  if (feed) rmSync(feed, { force: true });
  const start = performance.now();
  const sessions = await openSessions(model.dir, runs);
  const native = await nativeLogits(model.dir, sessions, opts.images, feed);
  for (const session of Object.values(sessions)) await session.release();
  const nativeSeconds = seconds(start);
  log(`${model.name}: native runtimes done in ${nativeSeconds} s`);
  const qemuJobs = runs.map((run, i) => {
    if (!feed) return Promise.resolve();
    const job = qemuQueue.then(() => qemuRun(model.name, run, feed, native.imageDims));
    qemuQueue = job;
    return job.then((logits) => {
      if (logits) native.logits[`${i}/qemu`] = logits;
    });
  });
  const result = Promise.all(qemuJobs).then(() => ({
    ...model,
    images: native.labels.length,
    nativeSeconds,
    settings: runs,
    rows: modelRows(model.name, runs, native),
  }));
  result.catch(() => undefined); // awaited after the other models' native work; its error surfaces there
  return { result };
}

/** model.onnx's logits under qemu, or undefined with the error recorded in the run. */
async function qemuRun(name: string, run: SettingRun, feed: string, imageDims: number[]) {
  const start = performance.now();
  log(`${name} ${run.name}: qemu started`);
  const out = join(run.folder, 'qemu-logits.f32');
  try {
    return await qemuLogits(join(run.folder, 'model.onnx'), feed, out, imageDims, (line) => {
      const [done, total] = line.split('/').map(Number);
      if (done % 500 === 0 || done === total) log(`${name} ${run.name}: qemu ${line} images`);
    });
  } catch (err) {
    run.qemuError = (err as Error).message;
    log(`${name} ${run.name}: qemu failed: ${run.qemuError}`);
    return undefined;
  } finally {
    run.qemuSeconds = seconds(start);
  }
}

function modelRows(
  model: string,
  runs: readonly SettingRun[],
  native: { logits: Record<string, Float32Array | undefined>; labels: Int32Array; classes: number },
): Row[] {
  const { labels, classes } = native;
  const float = native.logits.float!;
  const images = labels.length;
  const rows: Row[] = [
    { model, setting: '—', runtime: RUNTIMES.float, images, ...measures(float, float, labels, classes) },
  ];
  for (const [i, run] of runs.entries()) {
    const simLogits = native.logits[`${i}/simulation`]!;
    const simulation = { logits: simLogits, measures: measures(simLogits, float, labels, classes) };
    for (const runtime of ['simulation', 'node', 'web', 'qemu'] as const) {
      const logits = native.logits[`${i}/${runtime}`];
      if (!logits) continue;
      const base = { model, setting: run.name, runtime: RUNTIMES[runtime], images };
      const judged = runtime !== 'simulation' && SETTINGS.find((s) => s.name === run.name)!.judged;
      const row = comparedRow(base, measures(logits, float, labels, classes), logits, simulation, judged);
      const node = native.logits[`${i}/node`]!;
      rows.push(runtime === 'web' || runtime === 'qemu' ? { ...row, toNode: toNode(logits, node, classes) } : row);
    }
  }
  return rows;
}

async function main() {
  const opts = args();
  const work = opts.keep ? resolve(opts.keep) : mkdtempSync(join(tmpdir(), 'evolq-exactness-'));
  try {
    const pending: Promise<ModelResult>[] = [];
    for (const model of opts.models) pending.push((await benchModel(model, opts, work)).result);
    const results = await Promise.all(pending);
    const judged = SETTINGS.filter((s) => s.judged).map((s) => s.name);
    const info = { images: opts.images, qemu: opts.qemu, seconds: seconds(started), judged, folder: RESULTS };
    const table = writeResults(info, results);
    process.stdout.write(`${table}\n`);
    log(`wrote ${join(RESULTS, 'exactness.json')} and exactness.md`);
  } finally {
    if (!opts.keep) rmSync(work, { recursive: true, force: true });
  }
}

await main();
