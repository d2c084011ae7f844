// `npm run bench:export [-- MODEL_DIR ...] [--calib DIR] [--rounds N] [--no-web] [--keep DIR]`: the exported model.onnx of
// each model at W8A8 and W4A8 (per-channel and blocked) against its float model: file sizes, latency at batch 1
// and throughput at batch 16 in onnxruntime-node (CPU, every core) and in onnxruntime-web (wasm, in Chromium),
// as ratios to float measured in the same run (rounds interleaved, medians). The models are quantized with a
// small calibration set: on random weights accuracy means nothing, speed and size do.
// Default models: the folders under /work/models224 that exist. Writes bench/results/export-speed.json and .md.
// --keep DIR keeps the exported folders there (DIR/<model>/<variant>) and reuses those it finds.
import { createServer, type Server } from 'node:http';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve, basename } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { chromium } from 'playwright-core';
import { quantize } from '../src/pipeline/quantize.js';
import { loadModel } from '../src/model.js';
import { listImageFolder, limitPerClass, decodeImages, sliceBatch } from '../src/data/imagefolder.js';
import { defaultRunner, type FloatTensor, type Session } from '../src/runtime/runner.js';
import { layerKernels } from '../src/export/kernels.js';
import type { ExportFormat } from '../src/export/formats.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const OUT = join(ROOT, 'bench/results');
const MODELS224 = '/work/models224';
const DEFAULT_NAMES = ['vit-s16', 'deit-s16', 'vit-b16', 'tvvit-b16', 'swin-t'];
const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const VARIANTS: { name: string; wBits: 8 | 4; format: ExportFormat }[] = [
  { name: 'W8A8', wBits: 8, format: 'per-channel' },
  { name: 'W4A8 per-channel', wBits: 4, format: 'per-channel' },
  { name: 'W4A8 widened', wBits: 4, format: 'widened' },
  { name: 'W4A8 blocked', wBits: 4, format: 'blocked' },
];

interface Candidate { name: string; file: string; bytes: number; kernels?: Record<string, number> }
interface Timing { batch1Ms: number; batch16ImagesPerSecond: number; runs: { batch1: number; batch16: number } }

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function args() {
  const argv = process.argv.slice(2);
  const take = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv.splice(i, 2)[1] : undefined;
  };
  const calib = take('--calib') ?? '/work/shared/data/cifar10/train';
  const rounds = Number(take('--rounds') ?? 5);
  const keep = take('--keep');
  const web = !argv.includes('--no-web');
  const dirs = argv.filter((a) => !a.startsWith('--'));
  const models = dirs.length ? dirs : DEFAULT_NAMES.map((n) => join(MODELS224, n)).filter((d) => existsSync(d));
  return { calib, rounds, web, models, keep };
}

/** A model folder, or the one folder inside it that holds model.onnx (/work/models224/vit-s16/vit-s16-random). */
function modelFolder(dir: string): string {
  if (existsSync(join(dir, 'model.onnx'))) return dir;
  const inner = readdirSync(dir).map((d) => join(dir, d)).filter((d) => statSync(d).isDirectory() && existsSync(join(d, 'model.onnx')));
  if (inner.length !== 1) throw new Error(`${dir}: no model.onnx, and not exactly one subfolder with one`);
  return inner[0];
}

/** Batch-1 latency (5 runs a round) and batch-16 throughput (1 run a round), rounds interleaved across models. */
async function nodeTimings(candidates: Candidate[], batch16: FloatTensor, inputName: string, rounds: number): Promise<Timing[]> {
  const sessions: Session[] = [];
  for (const c of candidates) sessions.push(await defaultRunner.createSession(c.file));
  const one = { data: batch16.data.subarray(0, batch16.data.length / 16), dims: [1, ...batch16.dims.slice(1)] };
  const time = async (s: Session, x: FloatTensor) => {
    const start = performance.now();
    await s.run({ [inputName]: x });
    return performance.now() - start;
  };
  const b1 = candidates.map(() => [] as number[]);
  const b16 = candidates.map(() => [] as number[]);
  for (const s of sessions) {
    await time(s, batch16);
    await time(s, one);
  }
  for (let r = 0; r < rounds; r++) {
    for (const [i, s] of sessions.entries()) {
      for (let k = 0; k < 5; k++) b1[i].push(await time(s, one));
      b16[i].push(await time(s, batch16));
    }
  }
  for (const s of sessions) await s.release();
  return candidates.map((_, i) => ({ batch1Ms: median(b1[i]), batch16ImagesPerSecond: 16_000 / median(b16[i]), runs: { batch1: b1[i].length, batch16: b16[i].length } }));
}

// The page: onnxruntime-web (wasm, every core: the server sends the cross-origin isolation headers threads need),
// the same interleaved rounds as in Node; results go to window.result.
const PAGE = `<!doctype html><meta charset="utf-8"><script type="module">
import * as ort from '/ort/ort.wasm.min.mjs';
try {
  const job = await (await fetch('/job.json')).json();
  ort.env.wasm.wasmPaths = '/ort/';
  ort.env.wasm.numThreads = job.threads;
  const data = new Float32Array(await (await fetch('/input.bin')).arrayBuffer());
  const x16 = new ort.Tensor('float32', data, job.dims);
  const x1 = new ort.Tensor('float32', data.subarray(0, data.length / 16), [1, ...job.dims.slice(1)]);
  const sessions = [];
  for (const url of job.models) sessions.push(await ort.InferenceSession.create(url, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' }));
  const time = async (s, x) => { const t = performance.now(); await s.run({ [job.input]: x }); return performance.now() - t; };
  const b1 = sessions.map(() => []), b16 = sessions.map(() => []);
  for (const s of sessions) { await time(s, x16); await time(s, x1); }
  for (let r = 0; r < job.rounds; r++) for (const [i, s] of sessions.entries()) {
    for (let k = 0; k < 5; k++) b1[i].push(await time(s, x1));
    b16[i].push(await time(s, x16));
  }
  window.result = { b1, b16, crossOriginIsolated };
} catch (err) {
  window.result = { error: String(err?.stack ?? err) };
}
</script>`;

async function webTimings(candidates: Candidate[], batch16: FloatTensor, inputName: string, rounds: number): Promise<Timing[] | { error: string }> {
  const ortDir = dirname(createRequire(import.meta.url).resolve('onnxruntime-web'));
  const files = new Map(candidates.map((c, i) => [`/models/${i}.onnx`, c.file]));
  const job = { models: [...files.keys()], input: inputName, dims: batch16.dims, rounds, threads: cpus().length };
  const input = Buffer.from(batch16.data.buffer, batch16.data.byteOffset, batch16.data.byteLength);
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const headers = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };
    const send = (type: string, body: string | Buffer) => res.writeHead(200, { ...headers, 'Content-Type': type }).end(body);
    if (path === '/') return send('text/html', PAGE);
    if (path === '/job.json') return send('application/json', JSON.stringify(job));
    if (path === '/input.bin') return send('application/octet-stream', input);
    if (files.has(path)) return send('application/octet-stream', readFileSync(files.get(path)!));
    const file = join(ortDir, basename(path));
    if (path.startsWith('/ort/') && existsSync(file)) return send(file.endsWith('.wasm') ? 'application/wasm' : 'text/javascript', readFileSync(file));
    res.writeHead(404, headers).end();
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await page.waitForFunction(() => (window as unknown as { result?: unknown }).result, null, { timeout: 3_600_000, polling: 1000 });
    const result = await page.evaluate(() => (window as unknown as { result: { b1: number[][]; b16: number[][]; error?: string } }).result);
    if (result.error) return { error: result.error };
    return candidates.map((_, i) => ({ batch1Ms: median(result.b1[i]), batch16ImagesPerSecond: 16_000 / median(result.b16[i]), runs: { batch1: result.b1[i].length, batch16: result.b16[i].length } }));
  } finally {
    await browser.close();
    server.close();
  }
}

async function benchModel(dir: string, calib: string, rounds: number, web: boolean, keep?: string) {
  const folder = modelFolder(dir);
  const model = loadModel(folder);
  const work = keep ? join(keep, basename(dir)) : join(tmpdir(), `evolq-export-speed-${process.pid}`);
  if (!keep) rmSync(work, { recursive: true, force: true });
  const candidates: Candidate[] = [{ name: 'float', file: model.file, bytes: statSync(model.file).size }];
  try {
    for (const v of VARIANTS) {
      const out = join(work, v.name.replace(/ /g, '-'));
      const started = performance.now();
      const report = keep && existsSync(join(out, 'report.json'))
        ? JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as Awaited<ReturnType<typeof quantize>>
        : await quantize({ model: folder, calib, out, options: { wBits: v.wBits, exportFormat: v.format, calibSize: 32, holdout: 8, batchSize: 8 } });
      process.stderr.write(`${basename(dir)} ${v.name}: exported in ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
      candidates.push({ name: v.name, file: join(out, 'model.onnx'), bytes: report.exported.bytes, kernels: report.exported.kernels });
    }
    const items = limitPerClass(listImageFolder(calib, model.labels), 20).slice(0, 16);
    const images = sliceBatch(await decodeImages(items, model.preprocessing), 0, 16);
    const batch16 = { data: images.data, dims: images.dims };
    const node = await nodeTimings(candidates, batch16, model.inputName, rounds);
    const browser = web ? await webTimings(candidates, batch16, model.inputName, Math.max(2, Math.ceil(rounds / 2))) : undefined;
    return {
      model: basename(dir), file: model.file,
      variants: candidates.map((c, i) => ({
        name: c.name, bytes: c.bytes, sizeRatio: c.bytes / candidates[0].bytes,
        node: { ...node[i], batch1Speedup: node[0].batch1Ms / node[i].batch1Ms, batch16Speedup: node[i].batch16ImagesPerSecond / node[0].batch16ImagesPerSecond },
        web: !browser ? null : 'error' in browser ? browser : {
          ...browser[i], batch1Speedup: browser[0].batch1Ms / browser[i].batch1Ms, batch16Speedup: browser[i].batch16ImagesPerSecond / browser[0].batch16ImagesPerSecond,
        },
        ...(c.kernels ? { layerKernels: layerKernels(c.kernels) } : {}),
      })),
    };
  } finally {
    if (!keep) rmSync(work, { recursive: true, force: true });
  }
}

type ModelResult = Awaited<ReturnType<typeof benchModel>>;

function markdown(results: ModelResult[]): string {
  const x = (v: number) => `${v.toFixed(2)}×`;
  const rows = results.flatMap((r) => r.variants.map((v) => {
    const web = v.web && !('error' in v.web) ? v.web : undefined;
    return `| ${r.model} | ${v.name} | ${(v.bytes / 1e6).toFixed(1)} MB (${(100 * v.sizeRatio).toFixed(0)}%) | ${v.node.batch1Ms.toFixed(1)} ms (${x(v.node.batch1Speedup)}) | ${v.node.batch16ImagesPerSecond.toFixed(1)} /s (${x(v.node.batch16Speedup)}) | ${web ? `${web.batch1Ms.toFixed(1)} ms (${x(web.batch1Speedup)})` : 'n/a'} | ${web ? `${web.batch16ImagesPerSecond.toFixed(1)} /s (${x(web.batch16Speedup)})` : 'n/a'} | ${v.layerKernels ?? 'float'} |`;
  }));
  return [
    '| model | model.onnx | size (of float) | Node latency, batch 1 (speed-up) | Node throughput, batch 16 | web latency, batch 1 | web throughput, batch 16 | layer kernels (onnxruntime-node) |',
    '|---|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

async function main() {
  const { calib, rounds, web, models, keep } = args();
  if (!models.length) throw new Error(`no models: give model folders, or create them under ${MODELS224}`);
  const results: ModelResult[] = [];
  for (const dir of models) results.push(await benchModel(dir, calib, rounds, web, keep));
  const summary = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version, load: readFileSync('/proc/loadavg', 'utf8').trim() },
    settings: { calib, calibSize: 32, rounds, batch1RunsPerRound: 5, batch16RunsPerRound: 1, webRounds: Math.max(2, Math.ceil(rounds / 2)) },
    results,
  };
  mkdirSync(OUT, { recursive: true });
  const table = markdown(results);
  writeFileSync(join(OUT, 'export-speed.json'), `${JSON.stringify(summary, null, 2)}\n`);
  writeFileSync(join(OUT, 'export-speed.md'), `${table}\n`);
  process.stdout.write(`${table}\n\nwrote ${join(OUT, 'export-speed.json')} and export-speed.md (${summary.machine.cpus} cores, ${summary.machine.cpu}, load ${summary.machine.load})\n`);
}

await main();
