// Evol-Q: block-wise evolutionary search over quantization scales, units from the last to the first, fitness
// from suffix graphs against cached full-precision logits, the pass kept by its loss on a holdout split.
import type { QuantParams } from '../quant/scheme.js';
import type { ImageBatch } from '../data/imagefolder.js';
import type { Loss, Mutation } from '../config.js';
import { lossFunction } from '../fitness/losses.js';
import { evolveUnit } from './evolution.js';
import { Fitness, withScales, type FitnessSetup } from '../fitness/fitness.js';
import { writeCheckpoint } from './checkpoint.js';
import { ConfigError } from '../errors.js';
import type { SearchState, UnitRecord } from './state.js';
import type { SpillReport } from '../fitness/unit-inputs.js';
import { Rng } from '../rng.js';
import { silentProgress, type Progress } from '../progress.js';

export interface SearchSetup extends FitnessSetup {
  calibration: ImageBatch;
  holdout: ImageBatch;
}

export interface SearchSettings {
  passes: number;
  cycles: number;
  population: number;
  tournament: number;
  loss: Loss;
  temperature: number;
  mutation: Mutation;
  /** Mutation half-width (absolute, or relative with mutation 'relative'). */
  radius: number;
}

export interface SearchHooks {
  rng: Rng;
  progress?: Progress;
  /** Where to write a checkpoint after every unit, and the state read from it to resume from. */
  checkpoint?: { file: string; fingerprint: string; resumeFrom?: SearchState };
}

export interface SearchReport {
  passes: number;
  keptPass: number;
  why: string;
  holdoutLoss: number[];
  trajectory: UnitRecord[];
  evaluations: number;
  /** Suffix evaluations, full quantized forwards over the calibration set, holdout forwards. */
  forwards: { suffix: number; fullCalibration: number; holdout: number };
  seconds: number;
  resumedFrom?: { pass: number; nextUnit: number };
  /** The cached unit inputs of a pass: bytes held in memory and spilled to disk (deleted after the search). */
  unitInputs?: SpillReport;
}

/** Paper default mutation range: ±1e-3 at 3 and 4 bits, ±1e-4 at 8 bits (absolute, as in the Evol-Q code). */
export function defaultRadius(wBits: number): number {
  return wBits >= 8 ? 1e-4 : 1e-3;
}

export async function evolqSearch(setup: SearchSetup, baseParams: Record<string, QuantParams>, settings: SearchSettings, hooks: SearchHooks): Promise<{ params: Record<string, QuantParams>; report: SearchReport }> {
  const started = performance.now();
  const progress = hooks.progress ?? silentProgress;
  const { units } = setup;
  // With no unit a pass would never end; the holdout chooses the kept pass, so it cannot be empty either.
  if (!units.length) throw new ConfigError('the Evol-Q search needs at least one search unit; this model has none (use --method baseline)', '--method');
  if (!setup.holdout.dims[0]) throw new ConfigError('the Evol-Q search keeps the pass that is best on the holdout images; give --holdout 1 or more', '--holdout');
  const searchable = units.map((u) => u.points.filter((id) => baseParams[id]?.kind === 'uniform'));
  const fitness = new Fitness(setup, baseParams, lossFunction(settings.loss, settings.temperature));
  const calibration = await fitness.score(setup.calibration);
  const holdout = await fitness.score(setup.holdout);

  let state = hooks.checkpoint?.resumeFrom;
  const resumedFrom = state ? { pass: state.pass, nextUnit: state.nextUnit } : undefined;
  if (state) {
    hooks.rng.restore(state.rng);
    progress.log(`resuming at pass ${state.pass}, unit ${units.length - state.nextUnit} of ${units.length}`);
  } else {
    const initialScales = Object.fromEntries(searchable.flat().map((id) => [id, Array.from((baseParams[id] as { scale: Float32Array }).scale)]));
    const baseline = (await fitness.full(baseParams, holdout)).fitness;
    fitness.forwards.holdout++;
    state = {
      pass: 1, nextUnit: units.length - 1, scales: initialScales, fitness: NaN, rng: hooks.rng.state(),
      holdout: [baseline], best: { pass: 0, loss: baseline, scales: initialScales }, trajectory: [], evaluations: 0, seconds: 0,
    };
  }
  const secondsBefore = state.seconds;
  const save = () => {
    state!.rng = hooks.rng.state();
    state!.seconds = secondsBefore + (performance.now() - started) / 1000;
    if (hooks.checkpoint) writeCheckpoint(hooks.checkpoint.file, hooks.checkpoint.fingerprint, state!);
  };
  const unitSearches = settings.passes * units.length;
  progress.start('search', unitSearches);
  if (state.trajectory.length) progress.update(state.trajectory.length);

  while (state.pass <= settings.passes) {
    let params = withScales(baseParams, state.scales);
    // One quantized forward yields every unit's input for the whole pass: units before the one searched
    // do not change while it is searched, since units go from last to first.
    const passStart = await fitness.full(params, calibration, true);
    fitness.forwards.fullCalibration++;
    if (state.nextUnit === units.length - 1) state.fitness = passStart.fitness;
    for (let u = state.nextUnit; u >= 0; u--) {
      const unitStarted = performance.now();
      const ids = searchable[u];
      const evaluator = await fitness.unit(u, ids, params, calibration, passStart.unitInputs);
      let evolved;
      try {
        // The start's fitness is the previous unit's result: same scales, same model.
        evolved = await evolveUnit(ids.map((id) => Float32Array.from(state!.scales[id])), state.fitness, evaluator.evaluate, hooks.rng, {
          population: settings.population, cycles: settings.cycles, tournament: settings.tournament,
          radius: settings.radius, relative: settings.mutation === 'relative',
        });
      } finally {
        await evaluator.release();
      }
      const { best, evaluations } = evolved;
      const record: UnitRecord = {
        pass: state.pass, unit: u, name: units[u].name, before: state.fitness, after: best.fitness,
        evaluations, seconds: (performance.now() - unitStarted) / 1000,
      };
      ids.forEach((id, i) => (state!.scales[id] = Array.from(best.scales[i])));
      params = withScales(baseParams, state.scales);
      state.fitness = best.fitness;
      state.evaluations += evaluations;
      state.trajectory.push(record);
      state.nextUnit = u - 1;
      if (u === 0) {
        const loss = (await fitness.full(params, holdout)).fitness;
        fitness.forwards.holdout++;
        state.holdout.push(loss);
        if (loss < state.best.loss) state.best = { pass: state.pass, loss, scales: structuredClone(state.scales) };
        state.pass++;
        state.nextUnit = units.length - 1;
      }
      save();
      const done = state.trajectory.length;
      const left = (state.seconds / done) * (unitSearches - done);
      progress.update(done);
      progress.log(`search: pass ${record.pass}/${settings.passes} unit ${units.length - u}/${units.length} ${record.name}: `
        + `loss ${record.before.toFixed(5)} -> ${record.after.toFixed(5)}, ${state.evaluations} evaluations, `
        + `${state.seconds.toFixed(0)}s elapsed, ~${left.toFixed(0)}s left`
        + (u === 0 ? ` | holdout loss after pass ${record.pass}: ${state.holdout[state.holdout.length - 1].toFixed(5)}` : ''));
    }
  }

  progress.end();
  const unitInputs = fitness.releaseUnitInputs();
  const kept = state.best;
  const report: SearchReport = {
    passes: settings.passes,
    keptPass: kept.pass,
    why: kept.pass === 0
      ? `no pass lowered the holdout loss below the baseline's ${state.holdout[0].toFixed(5)}, so the baseline scales are kept`
      : `pass ${kept.pass} had the lowest holdout loss (${kept.loss.toFixed(5)}; baseline ${state.holdout[0].toFixed(5)}) on ${setup.holdout.dims[0]} holdout images`,
    holdoutLoss: state.holdout,
    trajectory: state.trajectory,
    evaluations: state.evaluations,
    forwards: fitness.forwards,
    seconds: state.seconds,
    resumedFrom,
    unitInputs,
  };
  return { params: withScales(baseParams, kept.scales), report };
}
