// Evol-Q: block-wise evolutionary search over quantization scales, units from the last to the first, fitness
// from suffix graphs against cached full-precision logits; the baseline or a pass kept by a holdout measure
// (src/search/selection.ts). The phases: begin.ts (the start, pass 0), passes.ts, report.ts; budget.ts counts the work.
import type { QuantParams } from '../quant/scheme.js';
import { lossFunction } from '../fitness/losses.js';
import { Fitness, withScales } from '../fitness/fitness.js';
import { forwardCost } from '../fitness/cost.js';
import { sliceBatch } from '../data/imagefolder.js';
import { ConfigError } from '../errors.js';
import { silentProgress } from '../progress.js';
import { writeCheckpoint } from './checkpoint.js';
import { MacBudget } from './budget.js';
import { holdoutScorer } from './holdout.js';
import { setupProgress, type SearchRun, type SetupProgress } from './context.js';
import { freshState, resumedStart, setupImageTotal } from './begin.js';
import { runPasses } from './passes.js';
import { logStop, searchReport, type SearchReport } from './report.js';
import type { SearchHooks, SearchSettings, SearchSetup } from './settings.js';

/** With no unit a pass would never end; the holdout chooses the kept pass, so it cannot be empty either. */
function checkSearchable(setup: SearchSetup): void {
  if (!setup.units.length)
    throw new ConfigError(
      'the Evol-Q search needs at least one search unit; this model has none (use --method baseline)',
      '--method',
    );
  if (!setup.holdout.dims[0])
    throw new ConfigError(
      'the Evol-Q search keeps the pass that is best on the holdout images; give --holdout 1 or more',
      '--holdout',
    );
}

/** The float logits of both image sets and the model's MACs, which every later phase reads. */
async function prepareRun(
  setup: SearchSetup,
  baseParams: Record<string, QuantParams>,
  settings: SearchSettings,
  hooks: SearchHooks,
): Promise<{ run: SearchRun; setupImages: SetupProgress }> {
  const progress = hooks.progress ?? silentProgress;
  const resumeFrom = hooks.checkpoint?.resumeFrom;
  const fitness = new Fitness(setup, baseParams, lossFunction(settings.loss, settings.temperature));
  const total = setupImageTotal(setup, baseParams, settings, !!resumeFrom);
  progress.start('search setup', total);
  const setupImages = setupProgress(progress, total);
  const calibration = await fitness.score(setup.calibration, setupImages.ran);
  const holdout = await fitness.score(setup.holdout, setupImages.ran);
  const one = sliceBatch(setup.calibration, 0, 1);
  const { units } = setup;
  const image = { data: one.data, dims: one.dims };
  const cost = await forwardCost(
    setup.runner,
    setup.graph,
    setup.inputName,
    image,
    units.map((u) => u.input),
  );
  const sizes = {
    calibrationImages: setup.calibration.dims[0],
    holdoutImages: setup.holdout.dims[0],
    cycles: settings.cycles,
  };
  const limits = { passes: settings.passes, searchBudget: settings.searchBudget };
  const budget = new MacBudget(cost, sizes, limits, resumeFrom?.macs);
  if (!resumeFrom) budget.floatReferences();
  const score = holdoutScorer(fitness, budget, settings.select, setup.holdout, holdout, setup.task);
  return { run: { setup, settings, hooks, progress, fitness, calibration, budget, score }, setupImages };
}

export async function evolqSearch(
  setup: SearchSetup,
  baseParams: Record<string, QuantParams>,
  settings: SearchSettings,
  hooks: SearchHooks,
): Promise<{ params: Record<string, QuantParams>; report: SearchReport }> {
  const started = performance.now();
  checkSearchable(setup);
  const { run, setupImages } = await prepareRun(setup, baseParams, settings, hooks);
  const { progress, fitness, budget } = run;
  const resumed = hooks.checkpoint?.resumeFrom;
  const resumedFrom = resumed ? { pass: resumed.pass, nextUnit: resumed.nextUnit } : undefined;
  const { state, start } = resumed
    ? { state: resumed, start: resumedStart(run, baseParams, resumed) }
    : await freshState(run, baseParams, setupImages);
  const secondsBefore = state.seconds;
  const save = () => {
    state.rng = hooks.rng.state();
    state.seconds = secondsBefore + (performance.now() - started) / 1000;
    if (hooks.checkpoint) {
      const { file, fingerprint, floatLayers } = hooks.checkpoint;
      writeCheckpoint(file, fingerprint, state, floatLayers);
    }
  };
  progress.end();
  progress.start('search', settings.passes * setup.units.length);
  if (state.trajectory.length) progress.update(state.trajectory.length);
  const stoppedBy = await runPasses(run, state, start, save);
  progress.end();
  logStop(progress, stoppedBy, state, settings);
  const unitInputs = fitness.releaseUnitInputs();
  const holdoutImages = setup.holdout.dims[0];
  const report = searchReport(state, { settings, stoppedBy, budget, fitness, holdoutImages, resumedFrom, unitInputs });
  const kept = state.best;
  // Pass 0 is the baseline itself, whatever the start, unless the unsearched start was kept.
  return { params: kept.pass === 0 && !kept.start ? { ...baseParams } : withScales(start, kept.scales), report };
}
