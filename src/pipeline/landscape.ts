// `evolq landscape`: model → graph → quant points → calibration → one unit's loss landscape → files
// (landscape.csv, landscape.json, SVG plots, report.html). Into an evolq output folder it adds these files
// and re-renders that folder's report.html with the landscape.
import { checkRequest, RUN_FIELDS } from '../options/request.js';
import { existsSync, readFileSync } from 'node:fs';
import type { ModelOptions } from '../model.js';
import { prepare, calibrateBaseline, type Prepared, requireLoadable } from './prepare.js';
import { materialize } from '../quant/materialize.js';
import { limitPerClass, decodeImagesWithProgress, type ImageBatch } from '../data/imagefolder.js';
import { Fitness } from '../fitness/fitness.js';
import { infonce } from '../fitness/losses.js';
import {
  measureLandscape,
  LANDSCAPE_MEASURES,
  type Landscape,
  type LandscapeSettings,
} from '../landscape/landscape.js';
import { resolveOptions, flagOf } from '../options/resolve.js';
import type { GivenOptions, QuantizeOptions } from '../options/table.js';
import { REQUEST_OPTIONS } from '../options/request-table.js';
import type { CalibrationTable } from '../calibrate/table.js';
import type { SearchSpace, SearchUnit } from '../quant/units.js';
import { runnerFor, type Runner, type RuntimeOptions } from '../runtime/runner.js';
import { OutputDir } from '../export/outdir.js';
import { reportHtml } from '../report/html.js';
import { landscapeFigures } from '../report/landscape.js';
import { silentProgress, type Progress } from '../progress.js';
import { ConfigError } from '../errors.js';
import type { QuantizeReport, LandscapeFile } from '../report/types.js';

export type { LandscapeFile };

const LANDSCAPE_FIELDS = { ...RUN_FIELDS, unit: 'option', points: 'option', radius: 'option', grid: 'option' } as const;

export interface LandscapeRequest {
  model: string;
  calib: string;
  out: string;
  eval?: string;
  /** Unit index (0 = first in the model); default the last. */
  unit?: number;
  points?: number;
  radius?: number;
  grid?: number;
  /** `evalLimit`: evaluation images for top-1 (from `eval`, or the holdout split of `calib`). */
  options?: GivenOptions;
  /** The model file in a folder, and input size, mean and std for a bare .onnx without preprocessor_config.json. */
  modelOptions?: ModelOptions;
  runner?: Runner;
  /** The execution provider and threads of onnxruntime-node, when no runner is given. */
  runtime?: RuntimeOptions;
  progress?: Progress;
}

/** The landscape of one attention unit, as the paper plots it (the table's landscape defaults). */
export async function landscape(request: LandscapeRequest): Promise<LandscapeFile> {
  checkRequest('landscape', request, LANDSCAPE_FIELDS, ['model', 'calib', 'out']);
  const started = performance.now();
  const options = resolveOptions(request.options ?? {}, 'landscape');
  const settings = landscapeSettings(request, options.temperature);
  const evalLimit = options.evalLimit ?? 0;
  const runner = runnerFor(request.runner, request.runtime);
  const progress = request.progress ?? silentProgress;

  const prepared = prepare({
    ...request,
    options,
    holdout: { count: request.eval ? 0 : evalLimit, option: 'evalLimit' },
  });
  const { model, evalFolder, splits } = prepared;
  if (model.task.task !== 'image-classification')
    throw new ConfigError(
      `${model.file}: is an image encoder (${model.task.reason}), and landscape measures top-1 and KL of class logits; quantize measures encoders (cosine to float, k-NN top-1)`,
      '--task',
    );
  if (!evalFolder && !prepared.calibFolder.labeled)
    throw new ConfigError(
      `${request.calib}: its images have no labels the model knows, and landscape measures top-1: give --eval with an ImageFolder of labelled images`,
      '--eval',
    );
  const index = chosenUnit(request.unit, prepared, options.searchSpace);
  const unit = prepared.units[index];
  await requireLoadable(runner, model);
  const out = OutputDir.open(request.out, { extend: true, command: 'landscape' });
  try {
    const calibImages = await decodeImagesWithProgress(splits.calibration, model.preprocessing, progress);
    const evalItems = evalFolder ? limitPerClass(evalFolder, evalLimit) : splits.holdout;
    const evalImages = await decodeImagesWithProgress(
      evalItems,
      model.preprocessing,
      progress,
      'decoding evaluation images',
    );
    const table = await calibrateBaseline(runner, prepared, calibImages, options, progress);
    const images = { calibration: calibImages, evaluation: evalImages };
    const measured = await measureUnit(runner, prepared, table, { unit, index }, images, settings, options, progress);

    const file: LandscapeFile = {
      settings: {
        ...settings,
        model: model.file,
        calib: request.calib,
        eval: request.eval ?? null,
        wBits: options.wBits,
        aBits: options.aBits,
        seed: options.seed,
        searchSpace: options.searchSpace,
        calibImages: calibImages.dims[0],
        evalImages: evalImages.dims[0],
      },
      unit: { index, name: unit.name, kind: unit.kind, points: unit.points },
      runtime: runner.report ?? null,
      ...measured,
      seconds: (performance.now() - started) / 1000,
      files: [],
    };
    await writeLandscape(out, file);
    out.commit();
    return file;
  } catch (err) {
    out.abort();
    throw err;
  }
}

/** --points, --radius and --grid from the request (or their defaults), checked, with the loss's temperature. */
function landscapeSettings(request: LandscapeRequest, temperature: number): LandscapeSettings {
  const setting = <K extends 'points' | 'radius' | 'grid'>(name: K) =>
    REQUEST_OPTIONS[name].parse(request[name] ?? REQUEST_OPTIONS[name].default, flagOf(name));
  const settings: LandscapeSettings = {
    points: setting('points'),
    radius: setting('radius'),
    grid: setting('grid'),
    temperature,
  };
  if (settings.radius >= 1)
    throw new ConfigError(
      `--radius must be below 1 (a relative step; 1 would zero a scale), got ${settings.radius}`,
      '--radius',
    );
  return settings;
}

/** The index of the unit to perturb: --unit, or the last unit of the model. */
function chosenUnit(requested: number | undefined, prepared: Prepared, searchSpace: SearchSpace): number {
  const { model, units } = prepared;
  if (!units.length) throw new ConfigError(`${model.file}: no ${searchSpace} units found to perturb`);
  const index = requested ?? units.length - 1;
  if (!Number.isInteger(index) || index < 0 || index >= units.length) {
    throw new ConfigError(
      `unit must be in 0..${units.length - 1} (${units.length} ${searchSpace} units), got ${requested}`,
      'unit',
    );
  }
  return index;
}

/** Moves the unit's scales along random directions around the baseline's and measures the losses and top-1 there. */
async function measureUnit(
  runner: Runner,
  prepared: Prepared,
  table: CalibrationTable,
  chosen: { unit: SearchUnit; index: number },
  images: { calibration: ImageBatch; evaluation: ImageBatch },
  settings: LandscapeSettings,
  options: QuantizeOptions,
  progress: Progress,
): Promise<Landscape> {
  const { model, points, units, rng } = prepared;
  const fitness = new Fitness(
    {
      runner,
      graph: model.graph,
      points,
      units,
      inputName: model.inputName,
      outputName: model.outputName,
      batchSize: options.batchSize,
      simulate: (params, feed) =>
        materialize(model.graph, points, params, { bake: true, feed, inputMeans: table.inputMeans }),
    },
    table.params,
    infonce(options.temperature),
  );
  // The float model's logits and the baseline's unit inputs, which every perturbed point starts from.
  const scoreImages = async (batch: ImageBatch) => {
    const scored = await fitness.score(batch);
    return { scored, unitInputs: (await fitness.full(table.params, scored, true)).unitInputs };
  };
  const calibration = await scoreImages(images.calibration);
  const evaluation = { ...(await scoreImages(images.evaluation)), labels: images.evaluation.labels };
  return measureLandscape(
    { fitness, unit: chosen.unit, unitIndex: chosen.index, params: table.params, calibration, evaluation },
    settings,
    rng,
    progress,
  );
}

/** landscape.json, landscape.csv, the figures, and report.html with the folder's quantize report when there is one. */
async function writeLandscape(out: OutputDir, file: LandscapeFile): Promise<void> {
  const figures = await landscapeFigures(file);
  file.files = ['landscape.json', 'landscape.csv', ...figures.map((f) => f.file), 'report.html'];
  out.writeJson('landscape.json', file);
  out.write('landscape.csv', landscapeCsv(file));
  for (const f of figures) out.write(f.file, f.svg);
  const existing = out.path('report.json');
  const report = existsSync(existing) ? (JSON.parse(readFileSync(existing, 'utf8')) as QuantizeReport) : undefined;
  out.write('report.html', await reportHtml({ report, landscape: { data: file, figures } }));
}

export function landscapeCsv(l: LandscapeFile): string {
  const rows = [
    ...l.line.map((p, i) => ['line', i, 0, p]),
    ...(l.grid?.values ?? []).map((p, k) => ['grid', k % l.grid!.size, Math.floor(k / l.grid!.size), p]),
  ] as [string, number, number, Landscape['line'][number]][];
  const header = ['kind', 'i', 'j', 'a', 'b', ...LANDSCAPE_MEASURES].join(',');
  return `${[header, ...rows.map(([kind, i, j, p]) => [kind, i, j, p.a, p.b, ...LANDSCAPE_MEASURES.map((k) => p[k])].join(','))].join('\n')}\n`;
}
