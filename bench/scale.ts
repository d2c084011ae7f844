// `npm run bench:scale -- [MODEL_DIR ...] [--calib DIR] [--calib-size 1000] [--holdout 200] [--method baseline|evolq]
// [--passes N (default: the default passes and search budget)] [--memory-budget SIZE] [--batch-size 100]`: quantize at full size, each model in a child process
// under /usr/bin/time -v, beside the float forward over the same images in another child. Records load, decode,
// calibration, one search pass, the whole run, peak RSS, and calibration / float forward (the figure of issue 9).
// Writes bench/results/scale.json and bench/results/scale.md. Default models: the folders under /work/models224.
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir, cpus, totalmem } from 'node:os';
import { join, resolve, dirname, basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { prepare } from '../src/pipeline/prepare.js';
import { decodeImages, batchRanges, sliceBatch } from '../src/data/imagefolder.js';
import { defaultRunner } from '../src/runtime/runner.js';
import { resolveOptions } from '../src/options/resolve.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = join(ROOT, 'bin/evolq.js');
const SELF = fileURLToPath(import.meta.url);
const OUT = join(ROOT, 'bench/results');
const MODELS224 = '/work/models224';

interface Timed {
  wallSeconds: number;
  peakRssMiB: number;
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

/** Runs node with `args` under /usr/bin/time -v: its wall time and peak RSS. */
function timed(args: string[]): Timed {
  const result = spawnSync('/usr/bin/time', ['-v', process.execPath, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 ** 2,
  });
  const field = (name: string) => result.stderr.match(new RegExp(`${name}: (.+)`))?.[1].trim();
  const wall = (field('Elapsed \\(wall clock\\) time \\(h:mm:ss or m:ss\\)') ?? '0').split(':').map(Number);
  return {
    wallSeconds: wall.reduce((s, v) => s * 60 + v, 0),
    peakRssMiB: Number(field('Maximum resident set size \\(kbytes\\)') ?? NaN) / 1024,
    exitCode: result.status,
    stdout: result.stdout,
    stderr: result.stderr,
  };
}

/** The folder holding model.onnx: `dir` itself or its only subfolder that has one. */
function modelFolder(dir: string): string {
  if (existsSync(join(dir, 'model.onnx'))) return dir;
  const inner = readdirSync(dir)
    .map((d) => join(dir, d))
    .filter((d) => statSync(d).isDirectory() && existsSync(join(d, 'model.onnx')));
  if (inner.length !== 1) throw new Error(`${dir}: no model.onnx in it or in exactly one subfolder`);
  return inner[0];
}

/** Child mode: load, decode and the float forward over the calibration draw of quantize, batch by batch. */
async function floatForward(
  model: string,
  calib: string,
  calibSize: number,
  holdout: number,
  batchSize: number,
): Promise<void> {
  let clock = performance.now();
  const lap = () => {
    const now = performance.now();
    const s = (now - clock) / 1000;
    clock = now;
    return s;
  };
  const options = resolveOptions({ calibSize, holdout, batchSize });
  const prepared = prepare({ model, calib, options, holdout: { count: holdout, option: 'holdout' } });
  const session = await defaultRunner.createSession(prepared.model.file);
  const load = lap();
  const images = await decodeImages(prepared.splits.calibration, prepared.model.preprocessing);
  const decode = lap();
  for (const [start, end] of batchRanges(images.dims[0], batchSize)) {
    const b = sliceBatch(images, start, end);
    await session.run({ [prepared.model.inputName]: { data: b.data, dims: b.dims } }, [prepared.model.outputName]);
  }
  const forward = lap();
  await session.release();
  process.stdout.write(JSON.stringify({ load, decode, forward, images: images.dims[0] }));
}

interface Row {
  model: string;
  folder: string;
  method: string;
  passes: number | null;
  calibImages: number;
  float: { load: number; decode: number; forward: number; peakRssMiB: number };
  quantize:
    | {
        timing: Record<string, number>;
        wallSeconds: number;
        peakRssMiB: number;
        searchSeconds: number | null;
        passSeconds: number | null;
        memory: unknown;
      }
    | { error: string };
  calibrationOverFloat: number | null;
  /** The whole run when it ran with the default passes and search budget (no --passes given). */
  defaultRunSeconds: number | null;
}

const fmt = (x: number | null | undefined, digits = 1) =>
  x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits);

function markdown(rows: Row[], header: string): string {
  const lines = [
    header,
    '',
    '| model | method | calib images | load (s) | decode (s) | calibration (s) | float forward (s) | calibration / float | one pass (s) | whole run (s) | default run (s) | peak RSS (GiB) | float peak RSS (GiB) |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const q = 'error' in r.quantize ? undefined : r.quantize;
    lines.push(
      `| ${r.model} | ${r.method}${r.passes ? ` (${r.passes} pass${r.passes > 1 ? 'es' : ''})` : ''} | ${r.calibImages} | ${fmt(q?.timing.load)} | ${fmt(q?.timing.decode)} | ` +
        `${fmt(q?.timing.calibration)} | ${fmt(r.float.forward)} | ${fmt(r.calibrationOverFloat, 2)} | ${fmt(q?.passSeconds)} | ${fmt(q?.wallSeconds)} | ` +
        `${fmt(r.defaultRunSeconds, 0)} | ${fmt(q ? q.peakRssMiB / 1024 : null, 2)} | ${fmt(r.float.peakRssMiB / 1024, 2)} |` +
        ('error' in r.quantize ? ` error: ${r.quantize.error}` : ''),
    );
  }
  return lines.join('\n') + '\n';
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      'float-forward': { type: 'boolean' },
      calib: { type: 'string', default: '/work/shared/data/cifar10/train' },
      'calib-size': { type: 'string', default: '1000' },
      holdout: { type: 'string', default: '200' },
      method: { type: 'string', default: 'baseline' },
      passes: { type: 'string' },
      'memory-budget': { type: 'string' },
      'batch-size': { type: 'string', default: '100' },
      out: { type: 'string', default: 'scale' },
    },
  });
  const calibSize = Number(values['calib-size']);
  const holdout = Number(values.holdout);
  const batchSize = Number(values['batch-size']);
  if (values['float-forward']) return floatForward(positionals[0], values.calib!, calibSize, holdout, batchSize);

  const dirs = positionals.length
    ? positionals
    : readdirSync(MODELS224)
        .map((d) => join(MODELS224, d))
        .filter((d) => statSync(d).isDirectory())
        .sort();
  const evolq = values.method === 'evolq';
  const rows: Row[] = [];
  const scratch = mkdtempSync(join(tmpdir(), 'evolq-scale-'));
  mkdirSync(OUT, { recursive: true });
  try {
    for (const dir of dirs) {
      const folder = modelFolder(dir);
      const name = basename(dir);
      const common = [
        '--calib',
        values.calib!,
        '--calib-size',
        String(calibSize),
        '--holdout',
        String(holdout),
        '--batch-size',
        String(batchSize),
      ];
      process.stderr.write(`${name}: float forward over the ${calibSize} calibration images\n`);
      const f = timed([SELF, '--float-forward', folder, ...common]);
      if (f.exitCode !== 0) throw new Error(`${name}: float forward failed: ${f.stderr.slice(-2000)}`);
      const floatResult = JSON.parse(f.stdout);
      process.stderr.write(
        `${name}: quantize --method ${values.method}${evolq && values.passes ? ` --passes ${values.passes}` : ''}\n`,
      );
      const out = join(scratch, name);
      const q = timed([
        BIN,
        'quantize',
        folder,
        ...common,
        '--out',
        out,
        '--method',
        values.method!,
        '--json',
        '--quiet',
        ...(evolq && values.passes ? ['--passes', values.passes] : []),
        ...(values['memory-budget'] ? ['--memory-budget', values['memory-budget']] : []),
      ]);
      rmSync(out, { recursive: true, force: true });
      let quantize: Row['quantize'];
      let calibrationOverFloat: number | null = null;
      let defaultRunSeconds: number | null = null;
      let passesRun: number | null = null;
      if (q.exitCode === 0) {
        const report = JSON.parse(q.stdout);
        const passes = report.search?.passesRun ?? null;
        passesRun = passes;
        const searchSeconds = report.search?.seconds ?? null;
        const passSeconds = searchSeconds !== null && passes ? searchSeconds / passes : null;
        quantize = {
          timing: report.timing,
          wallSeconds: q.wallSeconds,
          peakRssMiB: q.peakRssMiB,
          searchSeconds,
          passSeconds,
          memory: report.memory,
        };
        calibrationOverFloat = report.timing.calibration / floatResult.forward;
        // Without --passes the run is the default one (10 passes or fewer, as the search budget allows).
        if (evolq && !values.passes) defaultRunSeconds = q.wallSeconds;
      } else {
        quantize = { error: q.stderr.trim().split('\n').slice(-3).join(' ') };
      }
      rows.push({
        model: name,
        folder,
        method: values.method!,
        passes: evolq ? passesRun : null,
        calibImages: floatResult.images,
        float: {
          load: floatResult.load,
          decode: floatResult.decode,
          forward: floatResult.forward,
          peakRssMiB: f.peakRssMiB,
        },
        quantize,
        calibrationOverFloat,
        defaultRunSeconds,
      });
      const header =
        `Scale benchmark (${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores, ${(totalmem() / 1024 ** 3).toFixed(0)} GB, ` +
        `onnxruntime-node CPU; --calib-size ${calibSize} --holdout ${holdout} --batch-size ${batchSize}${values['memory-budget'] ? ` --memory-budget ${values['memory-budget']}` : ''}). ` +
        'Float forward: the same calibration images through the float model in a separate process. One pass: the search seconds over the passes it ran. Default run: the whole run, when no --passes was given.';
      writeFileSync(join(OUT, `${values.out}.json`), `${JSON.stringify({ header, rows }, null, 2)}\n`);
      writeFileSync(join(OUT, `${values.out}.md`), markdown(rows, header));
      process.stderr.write(markdown(rows.slice(-1), '').split('\n').slice(3).join('\n'));
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  process.stdout.write(readFileSync(join(OUT, `${values.out}.md`), 'utf8'));
}

await main();
