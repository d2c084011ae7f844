// Evol-Q: block-wise evolutionary search over quantization scales, units from the last to the first, fitness
// from suffix graphs against cached full-precision logits, the pass kept by its loss on a holdout split.
import type { Graph } from '../onnx/graph.js';
import { encodeModel, floatValueInfo } from '../onnx/proto.js';
import type { Runner, Session, FloatTensor } from '../runtime/runner.js';
import { simulationFeeds, type Simulation } from '../quant/materialize.js';
import type { QuantPoint } from '../quant/points.js';
import type { SearchUnit } from '../quant/units.js';
import type { QuantParams } from '../quant/scheme.js';
import { batchRanges, sliceBatch, type ImageBatch } from '../data/imagefolder.js';
import type { Loss, Mutation } from '../config.js';
import { lossFunction, type LossFunction } from './losses.js';
import { evolveUnit, type Scales } from './evolution.js';
import { suffixBoundary, suffixGraph } from './suffix.js';
import { readCheckpoint, writeCheckpoint } from './checkpoint.js';
import type { SearchState, UnitRecord } from './state.js';
import { Rng } from '../rng.js';
import { silentProgress, type Progress } from '../progress.js';

export interface SearchSetup {
  runner: Runner;
  /** The float model, for the full-precision logits. */
  graph: Graph;
  /** The simulation graph with scales as feeds. */
  simulation: Simulation;
  points: readonly QuantPoint[];
  units: readonly SearchUnit[];
  inputName: string;
  outputName: string;
  calibration: ImageBatch;
  holdout: ImageBatch;
  batchSize: number;
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
  /** Where to write a checkpoint after every unit, and whether to start from it. */
  checkpoint?: { file: string; fingerprint: string; resume: boolean };
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
}

/** Paper default mutation range: ±1e-3 at 3 and 4 bits, ±1e-4 at 8 bits (absolute, as in the Evol-Q code). */
export function defaultRadius(wBits: number): number {
  return wBits >= 8 ? 1e-4 : 1e-3;
}

const finite = (x: number) => (Number.isFinite(x) ? x : Infinity);

function withScales(params: Readonly<Record<string, QuantParams>>, scales: Readonly<Record<string, ArrayLike<number>>>): Record<string, QuantParams> {
  const out: Record<string, QuantParams> = { ...params };
  for (const [id, values] of Object.entries(scales)) {
    const p = params[id];
    if (p.kind === 'uniform') out[id] = { ...p, scale: Float32Array.from(values) };
  }
  return out;
}

async function run(runner: Runner, graph: Graph): Promise<Session> {
  return runner.createSession(encodeModel(graph.toModel()).model);
}

function pick(feeds: Record<string, FloatTensor>, names: readonly string[]): Record<string, FloatTensor> {
  const out: Record<string, FloatTensor> = {};
  for (const name of names) if (feeds[name]) out[name] = feeds[name];
  return out;
}

export async function evolqSearch(setup: SearchSetup, baseParams: Record<string, QuantParams>, settings: SearchSettings, hooks: SearchHooks): Promise<{ params: Record<string, QuantParams>; report: SearchReport }> {
  const started = performance.now();
  const progress = hooks.progress ?? silentProgress;
  const loss: LossFunction = lossFunction(settings.loss, settings.temperature);
  const { runner, simulation, points, units, inputName, outputName, batchSize } = setup;
  const searchable = units.map((u) => u.points.filter((id) => baseParams[id]?.kind === 'uniform'));
  const calibRanges = [...batchRanges(setup.calibration.dims[0], batchSize)];
  const holdoutRanges = [...batchRanges(setup.holdout.dims[0], batchSize)];
  const pixels = (images: ImageBatch, [start, end]: [number, number]): FloatTensor => {
    const b = sliceBatch(images, start, end);
    return { data: b.data, dims: b.dims };
  };
  const forwards = { suffix: 0, fullCalibration: 0, holdout: 0 };

  // Full-precision logits, once.
  const floatSession = await run(runner, setup.graph);
  const fpLogits = async (images: ImageBatch, ranges: [number, number][]) => {
    const out: FloatTensor[] = [];
    for (const r of ranges) out.push((await floatSession.run({ [inputName]: pixels(images, r) }, [outputName]))[outputName]);
    return out;
  };
  const fpCalibration = await fpLogits(setup.calibration, calibRanges);
  const fpHoldout = await fpLogits(setup.holdout, holdoutRanges);
  await floatSession.release();
  const batchLoss = (q: FloatTensor, k: FloatTensor) => loss(q.data, k.data, q.dims[0], q.dims[q.dims.length - 1]);

  // One full simulation session that also returns every unit's input, and one suffix session per unit.
  const boundaries = units.map((u) => suffixBoundary(simulation.graph, u.input, inputName));
  const probe = simulation.graph.clone();
  const cached = [...new Set(boundaries.flat())].filter((t) => t !== inputName);
  for (const t of cached) probe.outputs.push(floatValueInfo(t));
  const full = await run(runner, probe);
  const suffixes: Session[] = [];
  for (const [i] of units.entries()) suffixes.push(await run(runner, suffixGraph(simulation.graph, boundaries[i], [outputName])));

  const evaluateFull = async (params: Record<string, QuantParams>, images: ImageBatch, ranges: [number, number][], reference: FloatTensor[], fetchBoundaries: boolean) => {
    const feeds = simulationFeeds(simulation, points, params);
    const unitInputs: Record<string, FloatTensor>[] = [];
    let total = 0;
    for (const [b, r] of ranges.entries()) {
      const x = pixels(images, r);
      const out = await full.run({ ...feeds, [inputName]: x }, fetchBoundaries ? [outputName, ...cached] : [outputName]);
      total += batchLoss(out[outputName], reference[b]);
      if (fetchBoundaries) unitInputs.push({ ...out, [inputName]: x });
    }
    return { fitness: finite(total / ranges.length), unitInputs };
  };

  let state: SearchState | undefined = hooks.checkpoint?.resume ? readCheckpoint(hooks.checkpoint.file, hooks.checkpoint.fingerprint) : undefined;
  const resumedFrom = state ? { pass: state.pass, nextUnit: state.nextUnit } : undefined;
  if (hooks.checkpoint?.resume && !state) progress.log(`no checkpoint at ${hooks.checkpoint.file}: starting the search from the beginning`);
  if (state) {
    hooks.rng.restore(state.rng);
    progress.log(`resuming at pass ${state.pass}, unit ${state.nextUnit + 1} of ${units.length}`);
  } else {
    const initialScales = Object.fromEntries(searchable.flat().map((id) => [id, Array.from((baseParams[id] as { scale: Float32Array }).scale)]));
    const baseline = await evaluateFull(baseParams, setup.holdout, holdoutRanges, fpHoldout, false);
    forwards.holdout++;
    state = {
      pass: 1, nextUnit: units.length - 1, scales: initialScales, fitness: NaN, rng: hooks.rng.state(),
      holdout: [baseline.fitness], best: { pass: 0, loss: baseline.fitness, scales: initialScales }, trajectory: [], evaluations: 0, seconds: 0,
    };
  }
  const secondsBefore = state.seconds;
  const save = () => {
    state!.rng = hooks.rng.state();
    state!.seconds = secondsBefore + (performance.now() - started) / 1000;
    if (hooks.checkpoint) writeCheckpoint(hooks.checkpoint.file, hooks.checkpoint.fingerprint, state!);
  };
  const unitSearches = settings.passes * units.length;

  try {
    while (state.pass <= settings.passes) {
      let params = withScales(baseParams, state.scales);
      // One quantized forward yields every unit's input for the whole pass.
      const passStart = await evaluateFull(params, setup.calibration, calibRanges, fpCalibration, true);
      forwards.fullCalibration++;
      if (state.nextUnit === units.length - 1) state.fitness = passStart.fitness;
      for (let u = state.nextUnit; u >= 0; u--) {
        const unitStarted = performance.now();
        const ids = searchable[u];
        const session = suffixes[u];
        const inputs = session.inputNames;
        const evaluate = async (scales: Scales) => {
          const candidate = withScales(params, Object.fromEntries(ids.map((id, i) => [id, scales[i]])));
          const feeds = pick(simulationFeeds(simulation, points, candidate), inputs);
          let total = 0;
          for (const [b] of calibRanges.entries()) {
            const out = await session.run({ ...feeds, ...pick(passStart.unitInputs[b], boundaries[u]) }, [outputName]);
            total += batchLoss(out[outputName], fpCalibration[b]);
          }
          forwards.suffix++;
          return finite(total / calibRanges.length);
        };
        const start = ids.map((id) => Float32Array.from(state!.scales[id]));
        const { best, evaluations } = await evolveUnit(start, state.fitness, evaluate, hooks.rng, {
          population: settings.population, cycles: settings.cycles, tournament: settings.tournament,
          radius: settings.radius, relative: settings.mutation === 'relative',
        });
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
          const holdout = await evaluateFull(params, setup.holdout, holdoutRanges, fpHoldout, false);
          forwards.holdout++;
          state.holdout.push(holdout.fitness);
          if (holdout.fitness < state.best.loss) state.best = { pass: state.pass, loss: holdout.fitness, scales: structuredClone(state.scales) };
          state.pass++;
          state.nextUnit = units.length - 1;
        }
        save();
        const done = state.trajectory.length;
        const elapsed = state.seconds;
        const left = (elapsed / done) * (unitSearches - done);
        progress.log(`search: pass ${record.pass}/${settings.passes} unit ${units.length - u}/${units.length} ${record.name}: `
          + `loss ${record.before.toFixed(5)} -> ${record.after.toFixed(5)}, ${state.evaluations} evaluations, `
          + `${elapsed.toFixed(0)}s elapsed, ~${left.toFixed(0)}s left`
          + (u === 0 ? ` | holdout loss after pass ${record.pass}: ${state.holdout[state.holdout.length - 1].toFixed(5)}` : ''));
      }
    }
  } finally {
    await full.release();
    for (const s of suffixes) await s.release();
  }

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
    forwards,
    seconds: state.seconds,
    resumedFrom,
  };
  return { params: withScales(baseParams, kept.scales), report };
}
