// `npm run bench:encoder -- [--seeds 0,1,2] [--eval DIR] [--calib DIR] [--embed MODEL_DIR --embed-calib DIR] [--name N]`
// Image encoders: the bundled vit-cifar10 cut before its head (test/encoder-fixture.ts) quantized at W8A8 and W4A8,
// baseline and Evol-Q (infoNCE fitness, 1 − cosine selection), per seed: k-NN top-1 of float and model.onnx on the
// --eval images (default the bundled test images), cosine to float's embeddings, size; Evol-Q with its default
// fitness (infoNCE) and with --loss cosine. With --embed (the zoo's
// vit-s16-embed, 224 px), W8A8 and W4A8 baseline of that model for size and speed (onnxruntime-node, this CPU).
// Writes bench/results/N.json and N.md (N: encoder).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { quantize, type QuantizeReport } from '../src/pipeline/quantize.js';
import { cpuReport } from '../src/runtime/cpu.js';
import { StderrProgress } from '../src/progress.js';
import { writeEncoderFolder } from '../test/encoder-fixture.js';
import { ASSETS, DEFAULT_MODEL, ROOT, tempDir } from '../test/helpers.js';

const { values: args } = parseArgs({
  options: {
    seeds: { type: 'string', default: '0,1,2' },
    eval: { type: 'string', default: join(ASSETS, 'cifar10/test') },
    calib: { type: 'string', default: join(ASSETS, 'cifar10/calib') },
    embed: { type: 'string' },
    'embed-calib': { type: 'string' },
    name: { type: 'string', default: 'encoder' },
  },
});
const seeds = args.seeds ? args.seeds.split(',').map(Number) : [];
const SETTINGS = [
  { wBits: 8, method: 'baseline' },
  { wBits: 4, method: 'baseline' },
  { wBits: 4, method: 'evolq' },
  { wBits: 4, method: 'evolq', loss: 'cosine' },
] as const;

interface Row {
  model: string;
  setting: string;
  seed: number;
  floatKnn: number | null;
  knn: number | null;
  cosine: number | null;
  baselineCosine: number | null;
  sizeRatio: number;
  speedup: number | null;
  seconds: number;
  verdict: string;
}

function row(model: string, seed: number, report: QuantizeReport, seconds: number): Row {
  const s = report.settings;
  return {
    model,
    setting: `W${s.wBits}A${s.aBits} ${s.method}${s.method === 'evolq' ? ` (--loss ${s.loss})` : ''}`,
    seed,
    floatKnn: report.fp.top1,
    knn: report.exported.top1,
    cosine: report.exported.toFloat?.cosine ?? null,
    baselineCosine: report.baseline.toFloat?.cosine ?? null,
    sizeRatio: report.exported.sizeRatio,
    speedup: report.exported.speed?.speedup.batch1 ?? null,
    seconds,
    verdict: report.verdict.text,
  };
}

async function run(model: string, name: string, calib: string, evalDir: string | undefined, options: object) {
  const started = performance.now();
  const report = await quantize({
    model,
    calib,
    ...(evalDir ? { eval: evalDir } : {}),
    out: join(tempDir(), 'out'),
    options: { floatFallback: false, ...options },
    progress: new StderrProgress(),
  });
  return { report, seconds: (performance.now() - started) / 1000, name };
}

const rows: Row[] = [];
const encoder = join(tempDir(), 'vit-cifar10-encoder');
writeEncoderFolder(DEFAULT_MODEL, encoder);
for (const seed of seeds)
  for (const setting of SETTINGS) {
    const { report, seconds } = await run(encoder, 'vit-cifar10 encoder', args.calib, args.eval, {
      ...setting,
      seed,
      speed: false,
    });
    rows.push(row('vit-cifar10 encoder', seed, report, seconds));
    console.log(rows[rows.length - 1].verdict);
  }
if (args.embed) {
  for (const wBits of [8, 4] as const) {
    const { report, seconds } = await run(args.embed, 'vit-s16-embed', args['embed-calib'] ?? args.calib, undefined, {
      wBits,
      calibSize: 200,
      holdout: 50,
      floatFallback: true, // the default: which layers run integer follows this CPU, as a user's run would
    });
    rows.push(row('vit-s16-embed (224 px, random weights)', 0, report, seconds));
    console.log(rows[rows.length - 1].verdict);
  }
}

const pct = (x: number | null) => (x === null ? '—' : (100 * x).toFixed(2));
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const spread = (xs: number[]) => (xs.length > 1 ? `${pct(Math.min(...xs))}–${pct(Math.max(...xs))}` : '');
const groups = new Map<string, Row[]>();
for (const r of rows) groups.set(`${r.model}|${r.setting}`, [...(groups.get(`${r.model}|${r.setting}`) ?? []), r]);
const lines = [
  `CPU: ${cpuReport().model}; seeds ${seeds.join(', ') || 'none'}; k-NN over ${relative(ROOT, args.eval) || '.'}`,
  '',
  '| model | setting | float k-NN top-1 | model.onnx k-NN top-1 (seed range) | cosine to float | size | speed at batch 1 | seconds |',
  '|---|---|---|---|---|---|---|---|',
  ...[...groups.values()].map((g) => {
    const knn = g.map((r) => r.knn).filter((x): x is number => x !== null);
    const cosine = g.map((r) => r.cosine).filter((x): x is number => x !== null);
    const speed = g.map((r) => r.speedup).filter((x): x is number => x !== null);
    return `| ${g[0].model} | ${g[0].setting} | ${pct(g[0].floatKnn)} | ${knn.length ? `${pct(mean(knn))} (${spread(knn)})` : '—'} | ${cosine.length ? mean(cosine).toFixed(5) : '—'} | ${(100 * g[0].sizeRatio).toFixed(1)}% | ${speed.length ? `${mean(speed).toFixed(2)}×` : '—'} | ${mean(g.map((r) => r.seconds)).toFixed(0)} |`;
  }),
];
const dir = join(ROOT, 'bench/results');
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, `${args.name}.json`), `${JSON.stringify({ cpu: cpuReport(), rows }, null, 2)}\n`);
writeFileSync(join(dir, `${args.name}.md`), `${lines.join('\n')}\n`);
console.log(lines.join('\n'));
