// Before the first unit: the start chosen (and its output corrected), the baseline and the start scored on the
// holdout images, the first state written; or on a resume, the start rebuilt from the saved state.
import { ConfigError } from '../errors.js';
import type { QuantParams } from '../quant/scheme.js';
import type { ImagesRan } from '../fitness/batches.js';
import type { SearchState } from './state.js';
import type { SearchSettings, SearchSetup } from './settings.js';
import { searchableIn, type SearchRun, type SetupProgress } from './context.js';
import { betterThan } from './selection.js';
import { chooseStart, startParams, START_NAMES, type StartName } from './start.js';
import {
  correctedLayers,
  correctionFetches,
  outputCorrections,
  withOutputCorrections,
  OUTPUT_CORRECTION_IMAGES,
} from './output-correction.js';

type Params = Record<string, QuantParams>;
type Correction = { summary: NonNullable<SearchState['start']['outputCorrection']>; values?: Record<string, number[]> };

/** The starts `--start auto` tries: `fitted` only where calibration refitted the PTF. */
function startCandidates(setup: SearchSetup): StartName[] {
  return START_NAMES.filter((name) => name !== 'fitted' || setup.refittedPtf);
}

/** A start other than the baseline is also scored on the holdout (counted unless it is surely the baseline). */
function startHoldoutImages(settings: SearchSettings, holdoutImages: number): number {
  return settings.start === 'baseline' && !settings.outputCorrection ? 0 : holdoutImages;
}

/**
 * The images the setup runs: the float logits of both sets; on a fresh run also each start's calibration forward
 * (with `auto`), the baseline's holdout forward and the start's (unless it is the baseline), and the output
 * correction's (the float means, a forward per layer, the corrected start's fitness and the start's, unless `auto`
 * scored it). Counted so that the long wait before the first unit shows progress (docs/notes/search.md).
 */
export function setupImageTotal(
  setup: SearchSetup,
  baseParams: Readonly<Params>,
  settings: SearchSettings,
  resuming: boolean,
): number {
  const calibrationImages = setup.calibration.dims[0];
  const holdoutImages = setup.holdout.dims[0];
  const startForwards = resuming || settings.start !== 'auto' ? 0 : startCandidates(setup).length;
  const correctionImages = Math.min(OUTPUT_CORRECTION_IMAGES, calibrationImages);
  const correctionTotal =
    resuming || !settings.outputCorrection
      ? 0
      : (correctedLayers(setup.graph, setup.points, baseParams).length + 1) * correctionImages +
        calibrationImages * (settings.start === 'auto' ? 1 : 2);
  const startHoldout = startHoldoutImages(settings, holdoutImages);
  return (
    calibrationImages +
    holdoutImages +
    (resuming ? 0 : startForwards * calibrationImages + holdoutImages + startHoldout + correctionTotal)
  );
}

/** The start of a resumed run: the saved state's, with its kept output correction. */
export function resumedStart(run: SearchRun, baseParams: Readonly<Params>, state: SearchState): Params {
  const { setup, hooks, progress } = run;
  checkResumedState(setup.units.length, baseParams, state);
  hooks.rng.restore(state.rng);
  let start = startParams(setup.graph, setup.points, baseParams, state.start.chosen, setup.refittedPtf);
  if (state.outputCorrections) start = withOutputCorrections(start, state.outputCorrections);
  progress.log(`resuming at pass ${state.pass}, unit ${setup.units.length - state.nextUnit} of ${setup.units.length}`);
  return start;
}

/** Each layer's mean output corrected on `chosen`'s start, kept if it lowers the calibration fitness. */
async function correctOutputs(
  run: SearchRun,
  chosen: { name: StartName; params: Params; fitness?: Partial<Record<StartName, number>> },
  fullFitness: (params: Params) => Promise<number>,
  ran: ImagesRan,
): Promise<Correction & { start: Params }> {
  const { setup, settings, progress, budget } = run;
  const start = chosen.params;
  const correctionImages = Math.min(OUTPUT_CORRECTION_IMAGES, setup.calibration.dims[0]);
  const before = chosen.fitness?.[chosen.name] ?? (await fullFitness(start));
  const corrections = await outputCorrections(setup, start, setup.calibration, correctionImages, ran);
  budget.cutForwards(correctionImages, correctionFetches(setup.graph, setup.points, start));
  const corrected = withOutputCorrections(start, corrections);
  const after = await fullFitness(corrected);
  const kept = after < before;
  const channels = new Map(setup.points.map((p) => [p.id, p.dims?.[p.channelAxis ?? 0]]));
  const firstToken = Object.entries(corrections).filter(([id, values]) => values.length !== channels.get(id)).length;
  progress.log(
    `search: output correction of ${Object.keys(corrections).length} layers (${firstToken} with the first token apart) on ${correctionImages} images: calibration ${settings.loss} ${before.toPrecision(5)} -> ${after.toPrecision(5)}, ${kept ? 'kept' : 'dropped'}`,
  );
  return {
    summary: { layers: Object.keys(corrections).length, firstToken, images: correctionImages, before, after, kept },
    ...(kept ? { values: Object.fromEntries(Object.entries(corrections).map(([id, v]) => [id, Array.from(v)])) } : {}),
    start: kept ? corrected : start,
  };
}

/** The start of a fresh run, chosen and (with `--output-correction`) corrected, each forward counted. */
async function chosenStart(
  run: SearchRun,
  baseParams: Readonly<Params>,
  ran: ImagesRan,
): Promise<{ name: StartName; fitness?: Partial<Record<StartName, number>>; start: Params; correction?: Correction }> {
  const { setup, settings, progress, fitness, budget } = run;
  /** A start's fitness on the calibration images: one quantized forward, counted. */
  const fullFitness = async (params: Params) => {
    fitness.forwards.fullCalibration++;
    budget.calibrationForward();
    return (await fitness.full(params, run.calibration, false, ran)).fitness;
  };
  const chosen = await chooseStart(
    settings.start,
    startCandidates(setup),
    (name) => startParams(setup.graph, setup.points, baseParams, name, setup.refittedPtf),
    fullFitness,
  );
  if (chosen.fitness)
    progress.log(
      `search: starts from ${chosen.name} (calibration ${settings.loss}: ${Object.entries(chosen.fitness)
        .map(([n, f]) => `${n} ${f.toPrecision(5)}`)
        .join(', ')})`,
    );
  if (!settings.outputCorrection) return { name: chosen.name, fitness: chosen.fitness, start: chosen.params };
  const { start, ...correction } = await correctOutputs(run, chosen, fullFitness, ran);
  return { name: chosen.name, fitness: chosen.fitness, start, correction };
}

/** A fresh run's first state: the start chosen, the baseline (pass 0) and the start scored on the holdout. */
export async function freshState(
  run: SearchRun,
  baseParams: Readonly<Params>,
  setupProgress: SetupProgress,
): Promise<{ state: SearchState; start: Params }> {
  const { setup, settings, hooks, budget } = run;
  const { name, fitness, start, correction } = await chosenStart(run, baseParams, setupProgress.ran);
  // The baseline start, uncorrected, is the baseline itself: not scored on the holdout a second time.
  const startIsBaseline = name === 'baseline' && !correction?.values;
  const startHoldout = startHoldoutImages(settings, setup.holdout.dims[0]);
  if (startIsBaseline && startHoldout) setupProgress.skipped(startHoldout);
  const initialScales = Object.fromEntries(
    searchableIn(setup.units, start)
      .flat()
      .map((id) => [id, Array.from((start[id] as { scale: Float32Array }).scale)]),
  );
  const baseline = await run.score(baseParams, 0, null, setupProgress.ran);
  const baselinePerImage = baseline.perImage ? Array.from(baseline.perImage) : null;
  // A start that is not the baseline is a candidate of its own: the passes may end worse on the holdout than it.
  const startScore = startIsBaseline
    ? undefined
    : (await run.score(start, 0, baselinePerImage, setupProgress.ran)).score;
  const state: SearchState = {
    pass: 1,
    nextUnit: setup.units.length - 1,
    scales: initialScales,
    fitness: NaN,
    rows: [],
    rng: hooks.rng.state(),
    holdout: [baseline.score],
    baselinePerImage,
    // A copy: state.scales changes as units are searched, the baseline's kept scales must not.
    best:
      startScore && betterThan(settings.select, startScore, baseline.score)
        ? { pass: 0, start: true, scales: structuredClone(initialScales) }
        : { pass: 0, scales: structuredClone(initialScales) },
    trajectory: [],
    evaluations: 0,
    seconds: 0,
    start: {
      chosen: name,
      ...(fitness ? { fitness } : {}),
      ...(startScore ? { holdout: startScore } : {}),
      ...(correction ? { outputCorrection: correction.summary } : {}),
    },
    ...(correction?.values ? { outputCorrections: correction.values } : {}),
    macs: budget.beforePasses(),
  };
  return { state, start };
}

/**
 * A checkpoint that matches the settings' fingerprint but holds no state of this search (a unit index or pass out of
 * range, scales of other points or lengths: a file edited or damaged) is refused before it is used.
 */
export function checkResumedState(units: number, baseParams: Readonly<Params>, state: SearchState): void {
  const damaged = (what: string) =>
    new ConfigError(
      `--resume: the checkpoint's ${what}: the file is damaged; run without --resume to start over`,
      '--resume',
    );
  if (!Number.isInteger(state.pass) || state.pass < 1) throw damaged(`pass ${state.pass} is not a pass number`);
  if (!Number.isInteger(state.nextUnit) || state.nextUnit < -1 || state.nextUnit >= units)
    throw damaged(`next unit ${state.nextUnit} is not one of this model's ${units} units`);
  for (const [id, scales] of Object.entries(state.scales)) {
    const base = baseParams[id];
    const expected = (base as { scale?: Float32Array } | undefined)?.scale?.length;
    if (expected === undefined || !Array.isArray(scales) || scales.length !== expected || !scales.every((s) => s > 0))
      throw damaged(`scales of '${id}' do not fit its quant point`);
  }
}
