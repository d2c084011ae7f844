// The passes: units from the last to the first, each evolved on its suffix graph, the holdout scored after each
// pass; a checkpoint after every unit.
import type { QuantParams } from '../quant/scheme.js';
import type { UnitInputs } from '../fitness/fitness.js';
import { withScales } from '../fitness/fitness.js';
import { RACE_MIN_IMAGES } from '../fitness/race.js';
import type { SearchState, UnitRecord } from './state.js';
import type { SearchReport } from './report.js';
import { searchableIn, type SearchRun } from './context.js';
import { evolveUnit } from './evolution.js';
import { describeScore } from './holdout.js';
import { betterThan, stalled } from './selection.js';

type Params = Record<string, QuantParams>;

/** Runs passes from where `state` is until every pass ran, or patience or the budget stops them; says which stopped. */
export async function runPasses(
  run: SearchRun,
  state: SearchState,
  start: Readonly<Params>,
  save: () => void,
): Promise<SearchReport['stoppedBy']> {
  const { settings, budget } = run;
  const lastUnit = run.setup.units.length - 1;
  const searchable = searchableIn(run.setup.units, start);
  while (state.pass <= settings.passes) {
    if (stalled(state.holdout, settings.patience)) return 'patience';
    if (state.nextUnit === lastUnit && state.pass > budget.plannedPasses()) return 'budget';
    await runPass(run, state, start, searchable, save);
  }
  return null;
}

/** The rest of the pass in progress: from unit `state.nextUnit` down to unit 0. */
async function runPass(
  run: SearchRun,
  state: SearchState,
  start: Readonly<Params>,
  searchable: readonly string[][],
  save: () => void,
): Promise<void> {
  const { fitness, budget } = run;
  const lastUnit = run.setup.units.length - 1;
  let params = withScales(start, state.scales);
  // One quantized forward yields every unit's input for the whole pass: units before the one searched
  // do not change while it is searched, since units go from last to first.
  const passStart = await fitness.full(params, run.calibration, true);
  fitness.forwards.fullCalibration++;
  if (state.nextUnit === lastUnit) {
    state.fitness = passStart.fitness;
    state.rows = Array.from(passStart.rows);
    // Counted when a pass starts, not again when a resumed run repeats it: a resumed run decides as the uninterrupted one.
    budget.passStarted();
  }
  for (let u = state.nextUnit; u >= 0; u--) {
    const record = await searchUnit(run, state, u, searchable[u], params, passStart.unitInputs);
    params = withScales(start, state.scales);
    state.nextUnit = u - 1;
    if (u === 0) await endPass(run, state, params);
    save();
    logUnit(run, state, record);
  }
}

/** Evolves unit `u`'s scales (its searchable points `ids`) and moves the state on to the best member. */
async function searchUnit(
  run: SearchRun,
  state: SearchState,
  u: number,
  ids: readonly string[],
  params: Readonly<Params>,
  unitInputs: UnitInputs,
): Promise<UnitRecord> {
  const { settings, fitness } = run;
  const unitStarted = performance.now();
  const evaluator = await fitness.unit(u, ids, params, run.calibration, unitInputs, {
    z: settings.race,
    minImages: RACE_MIN_IMAGES,
  });
  let evolved;
  const ranBefore = fitness.forwards.suffixEquivalent;
  try {
    // The start's fitness is the previous unit's result: same scales, same model.
    const startMember = {
      scales: ids.map((id) => Float32Array.from(state.scales[id])),
      fitness: state.fitness,
      rows: Float64Array.from(state.rows),
    };
    evolved = await evolveUnit(startMember, evaluator.evaluate, run.hooks.rng, {
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
  run.budget.candidates(u, fitness.forwards.suffixEquivalent - ranBefore);
  const record: UnitRecord = {
    pass: state.pass,
    unit: u,
    name: run.setup.units[u].name,
    before: state.fitness,
    after: best.fitness,
    evaluations,
    stopped,
    seconds: (performance.now() - unitStarted) / 1000,
  };
  ids.forEach((id, i) => (state.scales[id] = Array.from(best.scales[i])));
  state.fitness = best.fitness;
  state.rows = Array.from(best.rows!);
  state.evaluations += evaluations;
  state.trajectory.push(record);
  return record;
}

/** After unit 0: the pass scored on the holdout, kept if better than the best so far, the next pass set up. */
async function endPass(run: SearchRun, state: SearchState, params: Readonly<Params>): Promise<void> {
  const passScore = (await run.score(params, state.pass, state.baselinePerImage)).score;
  run.budget.passEnded();
  state.holdout.push(passScore);
  const bestScore = state.best.start ? state.start.holdout! : state.holdout[state.best.pass];
  if (betterThan(run.settings.select, passScore, bestScore))
    state.best = { pass: state.pass, scales: structuredClone(state.scales) };
  state.pass++;
  state.nextUnit = run.setup.units.length - 1;
}

/** Progress after a unit, of the passes the budget allows (known once a pass has run; before, at most what one can cost). */
function logUnit(run: SearchRun, state: SearchState, record: UnitRecord): void {
  const { settings, progress, fitness } = run;
  const units = run.setup.units.length;
  const passEnded = record.unit === 0;
  const planned = run.budget.plannedPasses();
  const raced = fitness.forwards.suffix ? fitness.forwards.suffixEquivalent / fitness.forwards.suffix : 1;
  const left = run.budget.secondsLeft(planned, state, raced);
  progress.update(state.trajectory.length, { total: planned * units, secondsLeft: left });
  progress.log(
    `search: pass ${record.pass}/${planned} unit ${units - record.unit}/${units} ${record.name}: ` +
      `loss ${record.before.toFixed(5)} -> ${record.after.toFixed(5)}, ${state.evaluations} evaluations` +
      `${settings.race > 0 ? ` (${state.trajectory.reduce((n, r) => n + r.stopped, 0)} stopped early by racing)` : ''}, ` +
      `${state.seconds.toFixed(0)}s elapsed, ~${left.toFixed(0)}s left` +
      (passEnded
        ? ` | holdout after pass ${record.pass}: ${describeScore(state.holdout[state.holdout.length - 1], settings.select)}`
        : ''),
  );
}
