// `npm run bench:export [-- MODEL_DIR ...] [--calib DIR] [--rounds N] [--variants A,B] [--web-build NAME] [--no-web] [--keep DIR]`:
// the exported model.onnx of each model at W8A8 and W4A8 (each 4-bit export format) against its float model: file
// sizes, latency at batch 1 and throughput at batch 16 in onnxruntime-node (CPU, every core) and in onnxruntime-web
// (wasm, in Chromium), as ratios to float measured in the same run (rounds interleaved, medians). The models are
// quantized with a small calibration set: on random weights accuracy means nothing, speed and size do.
// Default models: the folders under /work/models224 that exist. Writes bench/results/export-speed.json and .md.
// --variants W8A8,W4A8-per-channel times only those (names as VARIANTS, spaces as '-'); float is always timed.
// --web-build transformers.js times in the onnxruntime-web build transformers.js imports (its WebGPU bundle, on
// the wasm provider; a reduced-type build) instead of onnxruntime-web's plain wasm build; a model it cannot load
// is reported as such. --keep DIR keeps the exported folders there (DIR/<model>/<variant>) and reuses those it finds.
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
import { TIMED } from '../src/evaluate/speed.js';
import { layerKernels } from '../src/export/kernels.js';
import type { ExportFormat } from '../src/export/formats.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const OUT = join(ROOT, 'bench/results');
const MODELS224 = '/work/models224';
const DEFAULT_NAMES = ['vit-s16', 'deit-s16', 'vit-b16', 'tvvit-b16', 'swin-t'];
const CHROMIUM = '/usr/bin/chromium';
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
// The defaults (Conv outputs quantized, layer classes that run faster float kept float: --float-fallback), the same
// with every layer integer, and the other export formats at 4 bits (all integer, to compare the formats' kernels).
const ALL_INTEGER = { floatFallback: false } as const;
const VARIANTS: { name: string; wBits: 8 | 4; format: ExportFormat; options?: { floatFallback: boolean } }[] = [
  { name: 'W8A8', wBits: 8, format: 'per-channel' },
  { name: 'W4A8', wBits: 4, format: 'per-channel' },
  { name: 'W8A8 all-integer', wBits: 8, format: 'per-channel', options: ALL_INTEGER },
  { name: 'W4A8 all-integer', wBits: 4, format: 'per-channel', options: ALL_INTEGER },
  { name: 'W4A8 widened', wBits: 4, format: 'widened', options: ALL_INTEGER },
  { name: 'W4A8 qdq', wBits: 4, format: 'qdq', options: ALL_INTEGER },
  { name: 'W4A8 blocked', wBits: 4, format: 'blocked', options: ALL_INTEGER },
];

// The onnxruntime-web builds the page can load: a package (resolved from here, or from another package) and its bundle.
const WEB_BUILDS = {
  'onnxruntime-web': { from: undefined, bundle: 'ort.wasm.min.mjs' },
  'transformers.js': { from: '@huggingface/transformers', bundle: 'ort.webgpu.bundle.min.mjs' },
} as const;
type WebBuild = keyof typeof WEB_BUILDS;

interface Candidate {
  name: string;
  file: string;
  bytes: number;
  kernels?: Record<string, number>;
  /** KL to float of the simulation and of model.onnx on the holdout images (random weights: only their ratio means something). */
  kl?: { simulated: number; exported: number };
  floatLayers?: number;
}
interface Timing {
  batch1Ms: number;
  batch16ImagesPerSecond: number;
  runs: { batch1: number; batch16: number };
}

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
  const names = VARIANTS.map((v) => v.name.replace(/ /g, '-'));
  const wanted = take('--variants')?.split(',') ?? names;
  for (const name of wanted)
    if (!names.includes(name)) throw new RangeError(`--variants: "${name}". Should be some of: ${names.join(', ')}.`);
  const variants = VARIANTS.filter((_, i) => wanted.includes(names[i]));
  const webBuild = take('--web-build') ?? 'onnxruntime-web';
  if (!(webBuild in WEB_BUILDS))
    throw new RangeError(`--web-build: "${webBuild}". Should be one of: ${Object.keys(WEB_BUILDS).join(', ')}.`);
  const web = !argv.includes('--no-web');
  const dirs = argv.filter((a) => !a.startsWith('--'));
  const models = dirs.length ? dirs : DEFAULT_NAMES.map((n) => join(MODELS224, n)).filter((d) => existsSync(d));
  return { calib, rounds, web, webBuild: webBuild as WebBuild, variants, models, keep };
}

/** A model folder, or the one folder inside it that holds model.onnx (/work/models224/vit-s16/vit-s16-random). */
function modelFolder(dir: string): string {
  if (existsSync(join(dir, 'model.onnx'))) return dir;
  const inner = readdirSync(dir)
    .map((d) => join(dir, d))
    .filter((d) => statSync(d).isDirectory() && existsSync(join(d, 'model.onnx')));
  if (inner.length !== 1) throw new Error(`${dir}: no model.onnx, and not exactly one subfolder with one`);
  return inner[0];
}

/** Batch-1 latency (5 runs a round) and batch-16 throughput (1 run a round), rounds interleaved across models. */
async function nodeTimings(
  candidates: Candidate[],
  batch16: FloatTensor,
  inputName: string,
  rounds: number,
): Promise<Timing[]> {
  const sessions: Session[] = [];
  for (const c of candidates) sessions.push(await defaultRunner.createSession(c.file, TIMED));
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
  return candidates.map((_, i) => ({
    batch1Ms: median(b1[i]),
    batch16ImagesPerSecond: 16_000 / median(b16[i]),
    runs: { batch1: b1[i].length, batch16: b16[i].length },
  }));
}

// The page: onnxruntime-web (wasm, every core: the server sends the cross-origin isolation headers threads need),
// the same interleaved rounds as in Node; results go to window.result.
const page = (bundle: string) => `<!doctype html><meta charset="utf-8"><script type="module">
import * as ort from '/ort/${bundle}';
try {
  const job = await (await fetch('/job.json')).json();
  ort.env.wasm.wasmPaths = '/ort/';
  ort.env.wasm.numThreads = job.threads;
  const data = new Float32Array(await (await fetch('/input.bin')).arrayBuffer());
  const x16 = new ort.Tensor('float32', data, job.dims);
  const x1 = new ort.Tensor('float32', data.subarray(0, data.length / 16), [1, ...job.dims.slice(1)]);
  const sessions = [], errors = [];
  for (const url of job.models) {
    try {
      sessions.push(await ort.InferenceSession.create(url, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' }));
      errors.push(null);
    } catch (err) {
      sessions.push(null);
      errors.push(String(err?.message ?? err));
    }
  }
  const time = async (s, x) => { const t = performance.now(); await s.run({ [job.input]: x }); return performance.now() - t; };
  const b1 = sessions.map(() => []), b16 = sessions.map(() => []);
  for (const s of sessions) if (s) { await time(s, x16); await time(s, x1); }
  for (let r = 0; r < job.rounds; r++) for (const [i, s] of sessions.entries()) {
    if (!s) continue;
    for (let k = 0; k < 5; k++) b1[i].push(await time(s, x1));
    b16[i].push(await time(s, x16));
  }
  window.result = { b1, b16, errors, crossOriginIsolated };
} catch (err) {
  window.result = { error: String(err?.stack ?? err) };
}
</script>`;

/** Timings per candidate, or why the build could not load that one; or why the page failed. */
async function webTimings(
  candidates: Candidate[],
  batch16: FloatTensor,
  inputName: string,
  rounds: number,
  build: WebBuild,
): Promise<(Timing | { error: string })[] | { error: string }> {
  const { from, bundle } = WEB_BUILDS[build];
  const requireFrom = createRequire(from ? createRequire(import.meta.url).resolve(from) : import.meta.url);
  const ortDir = dirname(requireFrom.resolve('onnxruntime-web'));
  const files = new Map(candidates.map((c, i) => [`/models/${i}.onnx`, c.file]));
  const job = { models: [...files.keys()], input: inputName, dims: batch16.dims, rounds, threads: cpus().length };
  const input = Buffer.from(batch16.data.buffer, batch16.data.byteOffset, batch16.data.byteLength);
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const headers = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };
    const send = (type: string, body: string | Buffer) =>
      res.writeHead(200, { ...headers, 'Content-Type': type }).end(body);
    if (path === '/') return send('text/html', page(bundle));
    if (path === '/job.json') return send('application/json', JSON.stringify(job));
    if (path === '/input.bin') return send('application/octet-stream', input);
    if (files.has(path)) return send('application/octet-stream', readFileSync(files.get(path)!));
    const file = join(ortDir, basename(path));
    if (path.startsWith('/ort/') && existsSync(file))
      return send(file.endsWith('.wasm') ? 'application/wasm' : 'text/javascript', readFileSync(file));
    res.writeHead(404, headers).end();
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
  try {
    const tab = await browser.newPage();
    await tab.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await tab.waitForFunction(() => (window as unknown as { result?: unknown }).result, null, {
      timeout: 3_600_000,
      polling: 1000,
    });
    const result = await tab.evaluate(
      () =>
        (
          window as unknown as {
            result: { b1: number[][]; b16: number[][]; errors: (string | null)[]; error?: string };
          }
        ).result,
    );
    if (result.error) return { error: result.error };
    return candidates.map((_, i) =>
      result.errors[i] !== null
        ? { error: result.errors[i]! }
        : {
            batch1Ms: median(result.b1[i]),
            batch16ImagesPerSecond: 16_000 / median(result.b16[i]),
            runs: { batch1: result.b1[i].length, batch16: result.b16[i].length },
          },
    );
  } finally {
    await browser.close();
    server.close();
  }
}

async function benchModel(
  dir: string,
  calib: string,
  rounds: number,
  variants: typeof VARIANTS,
  web: WebBuild | undefined,
  keep?: string,
) {
  const folder = modelFolder(dir);
  const model = loadModel(folder);
  const work = keep ? join(keep, basename(dir)) : join(tmpdir(), `evolq-export-speed-${process.pid}`);
  if (!keep) rmSync(work, { recursive: true, force: true });
  const candidates: Candidate[] = [{ name: 'float', file: model.file, bytes: statSync(model.file).size }];
  try {
    for (const v of variants) {
      const out = join(work, v.name.replace(/ /g, '-'));
      const started = performance.now();
      const report =
        keep && existsSync(join(out, 'report.json'))
          ? (JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as Awaited<ReturnType<typeof quantize>>)
          : await quantize({
              model: folder,
              calib,
              out,
              options: {
                wBits: v.wBits,
                exportFormat: v.format,
                ...v.options,
                calibSize: 32,
                holdout: 8,
                batchSize: 8,
              },
            });
      process.stderr.write(
        `${basename(dir)} ${v.name}: exported in ${((performance.now() - started) / 1000).toFixed(0)} s\n`,
      );
      candidates.push({
        name: v.name,
        file: join(out, 'model.onnx'),
        bytes: report.exported.bytes,
        kernels: report.exported.kernels,
        kl: { simulated: report.baseline.toFloat?.kl ?? NaN, exported: report.exported.toFloat?.kl ?? NaN },
        floatLayers: report.exported.floatLayers.length,
      });
    }
    const items = limitPerClass(listImageFolder(calib, model.labels), 20).slice(0, 16);
    const images = sliceBatch(await decodeImages(items, model.preprocessing), 0, 16);
    const batch16 = { data: images.data, dims: images.dims };
    const node = await nodeTimings(candidates, batch16, model.inputName, rounds);
    const browser = web
      ? await webTimings(candidates, batch16, model.inputName, Math.max(2, Math.ceil(rounds / 2)), web)
      : undefined;
    const floatWeb = browser && !('error' in browser) && !('error' in browser[0]) ? browser[0] : undefined;
    return {
      model: basename(dir),
      file: model.file,
      variants: candidates.map((c, i) => ({
        name: c.name,
        bytes: c.bytes,
        sizeRatio: c.bytes / candidates[0].bytes,
        node: {
          ...node[i],
          batch1Speedup: node[0].batch1Ms / node[i].batch1Ms,
          batch16Speedup: node[i].batch16ImagesPerSecond / node[0].batch16ImagesPerSecond,
        },
        web: webResult(browser, i, floatWeb),
        ...(c.kernels ? { layerKernels: layerKernels(c.kernels) } : {}),
        ...(c.kl ? { kl: c.kl, floatLayers: c.floatLayers } : {}),
      })),
    };
  } finally {
    if (!keep) rmSync(work, { recursive: true, force: true });
  }
}

/** One candidate's web timing with its speed-ups over float, or the error that kept the build from running it. */
function webResult(
  browser: (Timing | { error: string })[] | { error: string } | undefined,
  i: number,
  float: Timing | undefined,
) {
  if (!browser) return null;
  if ('error' in browser) return browser;
  const timing = browser[i];
  if ('error' in timing) return timing;
  return {
    ...timing,
    ...(float
      ? {
          batch1Speedup: float.batch1Ms / timing.batch1Ms,
          batch16Speedup: timing.batch16ImagesPerSecond / float.batch16ImagesPerSecond,
        }
      : {}),
  };
}

type ModelResult = Awaited<ReturnType<typeof benchModel>>;

function markdown(results: ModelResult[], webBuild: WebBuild): string {
  const x = (v: number | undefined) => (v === undefined ? '' : ` (${v.toFixed(2)}×)`);
  const rows = results.flatMap((r) =>
    r.variants.map((v) => {
      const web = v.web && !('error' in v.web) ? v.web : undefined;
      const noWeb = v.web && 'error' in v.web ? 'does not load' : 'n/a';
      return `| ${r.model} | ${v.name} | ${(v.bytes / 1e6).toFixed(1)} MB (${(100 * v.sizeRatio).toFixed(0)}%) | ${v.node.batch1Ms.toFixed(1)} ms${x(v.node.batch1Speedup)} | ${v.node.batch16ImagesPerSecond.toFixed(1)} /s${x(v.node.batch16Speedup)} | ${web ? `${web.batch1Ms.toFixed(1)} ms${x(web.batch1Speedup)}` : noWeb} | ${web ? `${web.batch16ImagesPerSecond.toFixed(1)} /s${x(web.batch16Speedup)}` : noWeb} | ${v.kl ? `${v.kl.simulated.toPrecision(3)} → ${v.kl.exported.toPrecision(3)}` : ''} | ${v.layerKernels ?? 'float'}${v.floatLayers ? ` (${v.floatLayers} float layers)` : ''} |`;
    }),
  );
  return [
    `| model | model.onnx | size (of float) | Node latency, batch 1 (speed-up) | Node throughput, batch 16 | web (${webBuild}) latency, batch 1 | web throughput, batch 16 | KL to float, simulated → model.onnx | layer kernels (onnxruntime-node) |`,
    '|---|---|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

async function main() {
  const { calib, rounds, web, webBuild, variants, models, keep } = args();
  const loadAtStart = readFileSync('/proc/loadavg', 'utf8').trim();
  if (!models.length) throw new Error(`no models: give model folders, or create them under ${MODELS224}`);
  const results: ModelResult[] = [];
  for (const dir of models)
    results.push(await benchModel(dir, calib, rounds, variants, web ? webBuild : undefined, keep));
  const summary = {
    date: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      cpu: cpus()[0]?.model ?? 'unknown',
      node: process.version,
      loadAtStart,
      load: readFileSync('/proc/loadavg', 'utf8').trim(),
    },
    settings: {
      calib,
      calibSize: 32,
      rounds,
      webBuild: web ? webBuild : null,
      batch1RunsPerRound: 5,
      batch16RunsPerRound: 1,
      webRounds: Math.max(2, Math.ceil(rounds / 2)),
    },
    results,
  };
  mkdirSync(OUT, { recursive: true });
  const table = markdown(results, webBuild);
  writeFileSync(join(OUT, 'export-speed.json'), `${JSON.stringify(summary, null, 2)}\n`);
  writeFileSync(join(OUT, 'export-speed.md'), `${table}\n`);
  process.stdout.write(
    `${table}\n\nwrote ${join(OUT, 'export-speed.json')} and export-speed.md (${summary.machine.cpus} cores, ${summary.machine.cpu}, load ${summary.machine.loadAtStart} at the start, ${summary.machine.load} at the end)\n`,
  );
}

await main();
