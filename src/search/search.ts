// Evol-Q: block-wise evolutionary search over quantization scales, units from the last to the first, fitness
// from suffix graphs against cached full-precision logits; the baseline or a pass kept by a holdout measure
// (src/search/selection.ts).
import type { QuantParams } from '../quant/scheme.js';
import type { ImageBatch } from '../data/imagefolder.js';
import type { QuantizeOptions } from '../options/table.js';
import type { Loss } from '../fitness/losses.js';
import type { Mutation } from './evolution.js';
import type { SearchStart } from './start.js';
import { START_NAMES, startParams, type StartName } from './start.js';
import { lossFunction } from '../fitness/losses.js';
import { evolveUnit } from './evolution.js';
import { Fitness, RACE_MIN_IMAGES, withScales, type FitnessSetup, type ImagesRan } from '../fitness/fitness.js';
import { writeCheckpoint } from './checkpoint.js';
import { forwardCost } from '../fitness/cost.js';
import { sliceBatch } from '../data/imagefolder.js';
import { ConfigError } from '../errors.js';
import type { SearchState, UnitRecord } from './state.js';
import type { SpillReport } from '../fitness/unit-inputs.js';
import { Rng } from '../rng.js';
import { silentProgress, type Progress } from '../progress.js';
import { betterThan, holdoutValues, pairedBootstrap, whyKept, type HoldoutScore, type Selection } from './selection.js';
import {
  correctedLayers,
  correctionFetches,
  outputCorrections,
  withOutputCorrections,
  OUTPUT_CORRECTION_IMAGES,
} from './output-correction.js';

export interface SearchSetup extends FitnessSetup {
  calibration: ImageBatch;
  holdout: ImageBatch;
  /** Calibration's PTF refits (CalibrationTable.refittedPtf): `--start fitted` needs them, `auto` tries them. */
  refittedPtf?: Readonly<Record<string, QuantParams>>;
}

export interface SearchSettings {
  passes: number;
  cycles: number;
  population: number;
  tournament: number;
  loss: Loss;
  temperature: number;
  mutation: Mutation;
  /** Mutation half-width (absolute, or relative with mutation 'relative', 'joint' or 'point'). */
  radius: number;
  /** How the kept result is chosen on the holdout images. */
  select: Selection;
  /** Stop after this many passes in a row without a new lowest holdout measure (0: run every pass). */
  patience: number;
  /** Race each candidate against the member it would replace, stopping it once worse by this many standard errors (0: off). */
  race: number;
  /** Multiply-accumulates the search may spend: no pass starts that the last pass's cost would take over it (0: no limit). */
  searchBudget: number;
  /** The scales pass 1 starts from, or `auto` for the one with the lower calibration fitness (the baseline stays pass 0 of the selection, the start is a candidate of its own). */
  start: SearchStart;
  /** Correct each layer's mean output on the start (src/search/output-correction.ts), kept if it lowers the calibration fitness. */
  outputCorrection: boolean;
}

export interface SearchHooks {
  rng: Rng;
  progress?: Progress;
  /** Where to write a checkpoint after every unit, and the state read from it to resume from. */
  checkpoint?: { file: string; fingerprint: string; resumeFrom?: SearchState };
}

export interface SearchReport {
  passes: number;
  /** Passes run: fewer than `passes` when the holdout measure stopped improving (see `patience`). */
  passesRun: number;
  stoppedEarly: boolean;
  /** Why it ran fewer passes than asked: the holdout stopped improving, or the next pass would exceed the budget. */
  stoppedBy: 'patience' | 'budget' | null;
  /** The search's work in multiply-accumulates: the model's per image, spent in all, the budget, each pass's cost. */
  macs: { perImage: number; spent: number; budget: number; passes: number[] };
  /** The pass kept: 0 for the baseline or, with `keptStart`, the start before any pass. */
  keptPass: number;
  keptStart: boolean;
  /** One sentence: why the kept result was kept. */
  why: string;
  select: Selection;
  /** The baseline (pass 0) and every pass on the holdout images. */
  holdout: HoldoutScore[];
  trajectory: UnitRecord[];
  evaluations: number;
  /** Suffix evaluations (and in whole ones, racing counted), full quantized forwards over the calibration set, holdout forwards. */
  forwards: { suffix: number; suffixEquivalent: number; fullCalibration: number; holdout: number };
  /** Candidates that racing stopped before their last batch. */
  stopped: number;
  seconds: number;
  resumedFrom?: { pass: number; nextUnit: number };
  /** The cached unit inputs of a pass: bytes held in memory and spilled to disk (deleted after the search). */
  unitInputs?: SpillReport;
  /** The start the passes ran from; with `--start auto`, each candidate's fitness on the calibration images; its holdout score. */
  start: SearchState['start'];
}

/** Paper default mutation range: ±1e-3 at 3 and 4 bits, ±1e-4 at 8 bits (absolute, as in the Evol-Q code). */
export function defaultRadius(wBits: number): number {
  return wBits >= 8 ? 1e-4 : 1e-3;
}

/** `--mutation relative`, `joint` and `point`: ±5% of each scale, about what the absolute defaults are for ViT weight scales. */
export const RELATIVE_RADIUS = 0.05;

/** The search settings the quantize options ask for (quantize and bench both run the search with them). */
export function searchSettings(options: QuantizeOptions): SearchSettings {
  return {
    passes: options.passes,
    cycles: options.cycles,
    population: options.population,
    tournament: 10,
    loss: options.loss,
    temperature: options.temperature,
    mutation: options.mutation,
    radius: options.mutation === 'absolute' ? defaultRadius(options.wBits) : RELATIVE_RADIUS,
    select: options.select,
    patience: options.patience,
    race: options.race,
    searchBudget: options.searchBudget,
    start: options.start,
    outputCorrection: options.outputCorrection,
  };
}

export async function evolqSearch(
  setup: SearchSetup,
  baseParams: Record<string, QuantParams>,
  settings: SearchSettings,
  hooks: SearchHooks,
): Promise<{ params: Record<string, QuantParams>; report: SearchReport }> {
  const started = performance.now();
  const progress = hooks.progress ?? silentProgress;
  const { units } = setup;
  // With no unit a pass would never end; the holdout chooses the kept pass, so it cannot be empty either.
  if (!units.length)
    throw new ConfigError(
      'the Evol-Q search needs at least one search unit; this model has none (use --method baseline)',
      '--method',
    );
  if (!setup.holdout.dims[0])
    throw new ConfigError(
      'the Evol-Q search keeps the pass that is best on the holdout images; give --holdout 1 or more',
      '--holdout',
    );
  /** Each unit's points with scales to search: uniform in the start (`fitted` puts a low-bit softmax on log√2). */
  const searchableIn = (params: Readonly<Record<string, QuantParams>>) =>
    units.map((u) => u.points.filter((id) => params[id]?.kind === 'uniform'));
  const fitness = new Fitness(setup, baseParams, lossFunction(settings.loss, settings.temperature));
  const calibrationImages = setup.calibration.dims[0];
  const holdoutImages = setup.holdout.dims[0];
  let state = hooks.checkpoint?.resumeFrom;
  const startCandidates = START_NAMES.filter((name) => name !== 'fitted' || setup.refittedPtf);
  // Before the first unit: the float logits of both sets; on a fresh run also each start's calibration forward
  // (with `auto`), the baseline's holdout forward and the start's (unless it is the baseline): on ViT-B/16 at 224 px,
  // 12 minutes before the first unit (measured before the start's holdout forward, 200 more images).
  const startForwards = state || settings.start !== 'auto' ? 0 : startCandidates.length;
  // A start other than the baseline is also scored on the holdout (counted here unless it is surely the baseline).
  const startHoldout = settings.start === 'baseline' && !settings.outputCorrection ? 0 : holdoutImages;
  // The output correction: the float means, a forward per layer, the corrected start's fitness (and the start's, unless `auto` scored it).
  const correctionImages = Math.min(OUTPUT_CORRECTION_IMAGES, calibrationImages);
  const correctionTotal =
    state || !settings.outputCorrection
      ? 0
      : (correctedLayers(setup.graph, setup.points, baseParams).length + 1) * correctionImages +
        calibrationImages * (settings.start === 'auto' ? 1 : 2);
  const setupTotal =
    calibrationImages +
    holdoutImages +
    (state ? 0 : startForwards * calibrationImages + holdoutImages + startHoldout + correctionTotal);
  progress.start('search setup', setupTotal);
  let setupImages = 0;
  const setupRan = (images: number) => progress.update((setupImages += images));
  const calibration = await fitness.score(setup.calibration, setupRan);
  const holdout = await fitness.score(setup.holdout, setupRan);
  const one = sliceBatch(setup.calibration, 0, 1);
  const cost = await forwardCost(
    setup.runner,
    setup.graph,
    setup.inputName,
    { data: one.data, dims: one.dims },
    units.map((u) => u.input),
  );
  /** MACs spent before the state exists: the float references, the start candidates, the baseline's holdout. */
  let spentBeforeState = cost.perImage * (calibrationImages + holdoutImages);
  const selection = settings.select;
  /** The holdout score of `params`, compared with the baseline's per-image measure when there is one. */
  const score = async (
    params: Readonly<Record<string, QuantParams>>,
    pass: number,
    baselinePerImage: number[] | null,
    ran?: ImagesRan,
  ): Promise<{ score: HoldoutScore; perImage?: Float64Array }> => {
    const logits = await fitness.logits(params, holdout, ran);
    fitness.forwards.holdout++;
    const values = holdoutValues(selection, logits, holdout.reference, setup.holdout.labels);
    const loss = fitness.lossOf(logits, holdout);
    const perImage = values.perImage;
    const measure = perImage ? perImage.reduce((a, b) => a + b, 0) / perImage.length : loss;
    const versusBaseline = perImage && baselinePerImage ? pairedBootstrap(perImage, baselinePerImage) : undefined;
    return {
      score: {
        pass,
        measure,
        loss,
        top1: values.top1,
        agreement: values.agreement,
        ...(versusBaseline ? { versusBaseline } : {}),
      },
      perImage,
    };
  };

  const resumedFrom = state ? { pass: state.pass, nextUnit: state.nextUnit } : undefined;
  let start: Record<string, QuantParams>;
  if (state) {
    hooks.rng.restore(state.rng);
    start = startParams(setup.graph, setup.points, baseParams, state.start.chosen, setup.refittedPtf);
    if (state.outputCorrections) start = withOutputCorrections(start, state.outputCorrections);
    progress.log(`resuming at pass ${state.pass}, unit ${units.length - state.nextUnit} of ${units.length}`);
  } else {
    /** A start's fitness on the calibration images: one quantized forward, counted. */
    const fullFitness = async (params: Record<string, QuantParams>) => {
      fitness.forwards.fullCalibration++;
      spentBeforeState += cost.perImage * calibrationImages;
      return (await fitness.full(params, calibration, false, setupRan)).fitness;
    };
    const chosen = await chooseStart(
      settings.start,
      startCandidates,
      (name) => startParams(setup.graph, setup.points, baseParams, name, setup.refittedPtf),
      fullFitness,
    );
    if (chosen.fitness)
      progress.log(
        `search: starts from ${chosen.name} (calibration ${settings.loss}: ${Object.entries(chosen.fitness)
          .map(([n, f]) => `${n} ${f.toPrecision(5)}`)
          .join(', ')})`,
      );
    start = chosen.params;
    let correction:
      { summary: NonNullable<SearchState['start']['outputCorrection']>; values?: Record<string, number[]> } | undefined;
    if (settings.outputCorrection) {
      const before = chosen.fitness?.[chosen.name] ?? (await fullFitness(start));
      const corrections = await outputCorrections(setup, start, setup.calibration, correctionImages, setupRan);
      spentBeforeState +=
        correctionImages *
        correctionFetches(setup.graph, setup.points, start).reduce((n, fetch) => n + cost.upTo(fetch), 0);
      const corrected = withOutputCorrections(start, corrections);
      const after = await fullFitness(corrected);
      const kept = after < before;
      const channels = new Map(setup.points.map((p) => [p.id, p.dims?.[p.channelAxis ?? 0]]));
      const firstToken = Object.entries(corrections).filter(
        ([id, values]) => values.length !== channels.get(id),
      ).length;
      progress.log(
        `search: output correction of ${Object.keys(corrections).length} layers (${firstToken} with the first token apart) on ${correctionImages} images: calibration ${settings.loss} ${before.toPrecision(5)} -> ${after.toPrecision(5)}, ${kept ? 'kept' : 'dropped'}`,
      );
      correction = {
        summary: { layers: Object.keys(corrections).length, firstToken, images: correctionImages, before, after, kept },
        ...(kept
          ? { values: Object.fromEntries(Object.entries(corrections).map(([id, v]) => [id, Array.from(v)])) }
          : {}),
      };
      if (kept) start = corrected;
    }
    // The baseline start, uncorrected, is the baseline itself: not scored on the holdout a second time.
    if (chosen.name === 'baseline' && !correction?.values && startHoldout)
      progress.update(setupImages, { total: setupTotal - startHoldout });
    const initialScales = Object.fromEntries(
      searchableIn(start)
        .flat()
        .map((id) => [id, Array.from((start[id] as { scale: Float32Array }).scale)]),
    );
    const baseline = await score(baseParams, 0, null, setupRan);
    const baselinePerImage = baseline.perImage ? Array.from(baseline.perImage) : null;
    spentBeforeState += cost.perImage * holdoutImages;
    // A start that is not the baseline is a candidate of its own: the passes may end worse on the holdout than it.
    const startScore =
      chosen.name === 'baseline' && !correction?.values
        ? undefined
        : (await score(start, 0, baselinePerImage, setupRan)).score;
    if (startScore) spentBeforeState += cost.perImage * holdoutImages;
    state = {
      pass: 1,
      nextUnit: units.length - 1,
      scales: initialScales,
      fitness: NaN,
      rows: [],
      rng: hooks.rng.state(),
      holdout: [baseline.score],
      baselinePerImage,
      // A copy: state.scales changes as units are searched, the baseline's kept scales must not.
      best:
        startScore && betterThan(selection, startScore, baseline.score)
          ? { pass: 0, start: true, scales: structuredClone(initialScales) }
          : { pass: 0, scales: structuredClone(initialScales) },
      trajectory: [],
      evaluations: 0,
      seconds: 0,
      start: {
        chosen: chosen.name,
        ...(chosen.fitness ? { fitness: chosen.fitness } : {}),
        ...(startScore ? { holdout: startScore } : {}),
        ...(correction ? { outputCorrection: correction.summary } : {}),
      },
      ...(correction?.values ? { outputCorrections: correction.values } : {}),
      macs: { spent: spentBeforeState, passStart: spentBeforeState, passes: [] },
    };
  }
  const searchable = searchableIn(start);
  const secondsBefore = state.seconds;
  const save = () => {
    state!.rng = hooks.rng.state();
    state!.seconds = secondsBefore + (performance.now() - started) / 1000;
    if (hooks.checkpoint) writeCheckpoint(hooks.checkpoint.file, hooks.checkpoint.fingerprint, state!);
  };
  progress.end();
  const unitSearches = settings.passes * units.length;
  progress.start('search', unitSearches);
  if (state.trajectory.length) progress.update(state.trajectory.length);

  /** The MACs of the candidates of units `to`..0 of a pass, every candidate run whole. */
  const candidatesFrom = (to: number) =>
    cost.suffixPerImage.slice(0, to + 1).reduce((n, m) => n + m, 0) * calibrationImages * settings.cycles;
  const holdoutForward = cost.perImage * holdoutImages;
  /** A pass's cost: the last one's, or before any has ended, what one costs with every candidate run whole. */
  const passCost = () =>
    state!.macs.passes[state!.macs.passes.length - 1] ??
    cost.perImage * calibrationImages + candidatesFrom(units.length - 1) + holdoutForward;
  /** Passes the budget lets run, judged by the last pass's cost (the first pass always runs). */
  const plannedPasses = () => {
    if (!settings.searchBudget) return settings.passes;
    const done = state!.macs.passes.length;
    // Before the first pass ends, from the MACs it can cost at most (the first always runs).
    const spent = done ? state!.macs.spent : state!.macs.passStart + passCost();
    return Math.min(
      settings.passes,
      Math.max(done, 1) + Math.max(0, Math.floor((settings.searchBudget - spent) / passCost())),
    );
  };
  /**
   * Seconds left: the MACs left at the seconds per MAC so far. The rest of this pass counts its candidates at the
   * share racing has run of them so far; later passes at the last pass's cost.
   */
  const secondsLeft = (planned: number) => {
    const s = state!;
    const inPass = s.nextUnit < units.length - 1;
    const raced = fitness.forwards.suffix ? fitness.forwards.suffixEquivalent / fitness.forwards.suffix : 1;
    const rest = inPass ? candidatesFrom(s.nextUnit) * raced + holdoutForward : 0;
    const later = Math.max(0, planned - (s.pass - 1) - (inPass ? 1 : 0)) * passCost();
    return (s.seconds / s.macs.spent) * (rest + later);
  };
  let stoppedBy: SearchReport['stoppedBy'] = null;
  while (state.pass <= settings.passes) {
    if (stalled(state.holdout, settings.patience)) {
      stoppedBy = 'patience';
      break;
    }
    if (state.nextUnit === units.length - 1 && state.pass > plannedPasses()) {
      stoppedBy = 'budget';
      break;
    }
    let params = withScales(start, state.scales);
    // One quantized forward yields every unit's input for the whole pass: units before the one searched
    // do not change while it is searched, since units go from last to first.
    const passStart = await fitness.full(params, calibration, true);
    fitness.forwards.fullCalibration++;
    if (state.nextUnit === units.length - 1) {
      state.fitness = passStart.fitness;
      state.rows = Array.from(passStart.rows);
      // Counted when a pass starts, not again when a resumed run repeats it: a resumed run decides as the uninterrupted one.
      state.macs.passStart = state.macs.spent;
      state.macs.spent += cost.perImage * calibrationImages;
    }
    for (let u = state.nextUnit; u >= 0; u--) {
      const unitStarted = performance.now();
      const ids = searchable[u];
      const evaluator = await fitness.unit(u, ids, params, calibration, passStart.unitInputs, {
        z: settings.race,
        minImages: RACE_MIN_IMAGES,
      });
      let evolved;
      const ranBefore = fitness.forwards.suffixEquivalent;
      try {
        // The start's fitness is the previous unit's result: same scales, same model.
        const startMember = {
          scales: ids.map((id) => Float32Array.from(state!.scales[id])),
          fitness: state.fitness,
          rows: Float64Array.from(state.rows),
        };
        evolved = await evolveUnit(startMember, evaluator.evaluate, hooks.rng, {
          population: settings.population,
          cycles: settings.cycles,
          tournament: settings.tournament,
          radius: settings.radius,
          mutation: settings.mutation,
        });
      } finally {
        await evaluator.release();
      }
      const { best, evaluations, stopped } = evolved;
      state.macs.spent += cost.suffixPerImage[u] * calibrationImages * (fitness.forwards.suffixEquivalent - ranBefore);
      const record: UnitRecord = {
        pass: state.pass,
        unit: u,
        name: units[u].name,
        before: state.fitness,
        after: best.fitness,
        evaluations,
        stopped,
        seconds: (performance.now() - unitStarted) / 1000,
      };
      ids.forEach((id, i) => (state!.scales[id] = Array.from(best.scales[i])));
      params = withScales(start, state.scales);
      state.fitness = best.fitness;
      state.rows = Array.from(best.rows!);
      state.evaluations += evaluations;
      state.trajectory.push(record);
      state.nextUnit = u - 1;
      if (u === 0) {
        const passScore = (await score(params, state.pass, state.baselinePerImage)).score;
        state.macs.spent += cost.perImage * holdoutImages;
        state.macs.passes.push(state.macs.spent - state.macs.passStart);
        state.holdout.push(passScore);
        const bestScore = state.best.start ? state.start.holdout! : state.holdout[state.best.pass];
        if (betterThan(selection, passScore, bestScore))
          state.best = { pass: state.pass, scales: structuredClone(state.scales) };
        state.pass++;
        state.nextUnit = units.length - 1;
      }
      save();
      const done = state.trajectory.length;
      // Of the passes the budget allows (a pass's cost is known once one has run; before, at most what one can cost).
      const planned = plannedPasses();
      const left = secondsLeft(planned);
      progress.update(done, { total: planned * units.length, secondsLeft: left });
      progress.log(
        `search: pass ${record.pass}/${planned} unit ${units.length - u}/${units.length} ${record.name}: ` +
          `loss ${record.before.toFixed(5)} -> ${record.after.toFixed(5)}, ${state.evaluations} evaluations` +
          `${settings.race > 0 ? ` (${state.trajectory.reduce((n, r) => n + r.stopped, 0)} stopped early by racing)` : ''}, ` +
          `${state.seconds.toFixed(0)}s elapsed, ~${left.toFixed(0)}s left` +
          (u === 0
            ? ` | holdout after pass ${record.pass}: ${describe(state.holdout[state.holdout.length - 1], selection)}`
            : ''),
      );
    }
  }

  progress.end();
  const stoppedEarly = stoppedBy !== null;
  if (stoppedBy === 'patience')
    progress.log(
      `search: stopped after pass ${state.pass - 1}: the holdout ${selection} has not improved for ${settings.patience} passes`,
    );
  if (stoppedBy === 'budget') {
    progress.log(
      `search: stopped after pass ${state.pass - 1}: another pass (${tera(state.macs.passes[state.macs.passes.length - 1])} MACs) would take the ${tera(state.macs.spent)} spent over --search-budget ${tera(settings.searchBudget)}`,
    );
  }
  const unitInputs = fitness.releaseUnitInputs();
  const kept = state.best;
  const report: SearchReport = {
    passes: settings.passes,
    passesRun: state.holdout.length - 1,
    stoppedEarly,
    stoppedBy,
    macs: {
      perImage: cost.perImage,
      spent: state.macs.spent,
      budget: settings.searchBudget,
      passes: state.macs.passes,
    },
    keptPass: kept.pass,
    keptStart: !!kept.start,
    why: whyKept(
      selection,
      state.holdout,
      kept.pass,
      setup.holdout.dims[0],
      state.start.holdout && { name: state.start.chosen, score: state.start.holdout, kept: !!kept.start },
    ),
    select: selection,
    holdout: state.holdout,
    trajectory: state.trajectory,
    evaluations: state.evaluations,
    forwards: fitness.forwards,
    stopped: state.trajectory.reduce((n, r) => n + r.stopped, 0),
    seconds: state.seconds,
    resumedFrom,
    unitInputs,
    start: state.start,
  };
  // Pass 0 is the baseline itself, whatever the start, unless the unsearched start was kept.
  return { params: kept.pass === 0 && !kept.start ? { ...baseParams } : withScales(start, kept.scales), report };
}

const tera = (macs: number) => `${(macs / 1e12).toFixed(1)}T`;

function describe(score: HoldoutScore, selection: Selection): string {
  const v = score.versusBaseline;
  return `${selection} ${score.measure.toPrecision(5)}${v ? ` (${v.difference <= 0 ? '' : '+'}${(v.difference / (v.standardError || Infinity)).toFixed(1)} se against the baseline)` : ''}, top-1 ${(100 * score.top1).toFixed(1)}%`;
}

/**
 * The start's params: the one asked for, or with `auto` the candidate with the lowest calibration fitness (the
 * earlier in `candidates` on a tie), with each candidate's fitness.
 */
export async function chooseStart(
  asked: SearchStart,
  candidates: readonly StartName[],
  paramsOf: (name: StartName) => Record<string, QuantParams>,
  fitnessOf: (params: Record<string, QuantParams>) => Promise<number>,
): Promise<{ name: StartName; params: Record<string, QuantParams>; fitness?: Partial<Record<StartName, number>> }> {
  if (asked !== 'auto') return { name: asked, params: paramsOf(asked) };
  const fitness: Partial<Record<StartName, number>> = {};
  let best: { name: StartName; params: Record<string, QuantParams> } | undefined;
  for (const name of candidates) {
    const params = paramsOf(name);
    fitness[name] = await fitnessOf(params);
    if (!best || fitness[name]! < fitness[best.name]!) best = { name, params };
  }
  return { ...best!, fitness };
}

/** Whether the last `patience` passes all failed to lower the holdout measure below the lowest before them. */
export function stalled(holdout: readonly HoldoutScore[], patience: number): boolean {
  if (patience <= 0 || holdout.length <= patience) return false;
  const lowest = holdout.reduce((best, h) => (h.measure < best.measure ? h : best));
  return holdout.length - 1 - lowest.pass >= patience;
}
