// Each weight's sensitivity to its width: the rise of a fitness measure over the float model's outputs when that
// weight alone takes a lower width, every other point as calibrated. A weight inside a search unit's suffix runs
// only that suffix, from the unit inputs cached by one quantized forward (src/fitness); a weight before every
// unit (a patch embedding) runs the whole model.
import { Fitness, type FitnessSetup } from '../fitness/fitness.js';
import { lossFunction, type Loss } from '../fitness/losses.js';
import { downstreamNodes } from '../onnx/walk.js';
import type { UnitInputs } from '../fitness/unit-inputs.js';
import type { ScoredImages } from '../fitness/batches.js';
import { FLOAT_WIDTH } from '../quant/scheme.js';
import { sliceBatch, type ImageBatch } from '../data/imagefolder.js';
import type { QuantParams } from '../quant/scheme.js';
import type { QuantPoint } from '../quant/points.js';
import type { Progress } from '../progress.js';

/** Calibration images the sensitivity pass runs on (the first of the drawn set). */
export const SENSITIVITY_IMAGES = 256;

export interface WeightSensitivity {
  /** The measure with every weight at the widest width. */
  base: number;
  /** Per weight point, per other width: the measure's rise when that point alone takes it (below 0 at float). */
  rise: Record<string, Record<number, number>>;
  /** The measure: kl for class logits, cosine for embeddings. */
  measure: Loss;
  images: number;
  /** Suffix runs in whole forwards (a suffix from the middle of the model counts as the share of nodes it runs). */
  forwards: number;
}

export interface SensitivityRun {
  setup: FitnessSetup;
  base: Readonly<Record<string, QuantParams>>;
  /**
   * Weight points, their params at each lower width, and with `float` the setup whose simulation keeps the point's
   * layer float (its rise is measured at FLOAT_WIDTH).
   */
  lowered: readonly { point: QuantPoint; params: Readonly<Record<number, QuantParams>>; float?: FitnessSetup }[];
  calibration: ImageBatch;
  measure: Loss;
  progress: Progress;
}

/** The search unit whose suffix is the shortest one that runs `node`, or -1 if none does. */
function shortestSuffix(insides: readonly Set<string>[], node: string): number {
  let best = -1;
  for (const [u, inside] of insides.entries())
    if (inside.has(node) && (best < 0 || inside.size < insides[best].size)) best = u;
  return best;
}

/** What one candidate's measure is taken with: the fitness, its images and the base pass's unit inputs. */
interface Measuring {
  fitness: Fitness;
  scored: ScoredImages;
  unitInputs: UnitInputs;
  /** The shortest suffix holding the point, and its share of the model's nodes (-1 and 1: the whole model). */
  unit: number;
  share: number;
}

/** The measure with `candidate`: the suffix from the unit's cached inputs, or a full forward. */
async function measured(m: Measuring, candidate: Readonly<Record<string, QuantParams>>): Promise<number> {
  if (m.unit < 0) return (await m.fitness.full(candidate, m.scored)).fitness;
  const suffix = await m.fitness.unitOutputs(m.unit, [], candidate, m.scored, m.unitInputs);
  try {
    return m.fitness.lossOf(await suffix.logits([]), m.scored);
  } finally {
    await suffix.release();
  }
}

/**
 * The measuring of a point's layer kept float: a fitness over the simulation without it. Its suffix runs from the
 * base pass's unit inputs where the unit's boundary is the same tensors; else the whole model runs.
 */
function floatMeasuring(run: SensitivityRun, base: Measuring, float: FitnessSetup): Measuring {
  const fitness = new Fitness(float, run.base, lossFunction(run.measure, 1));
  const whole = { ...base, fitness, unit: -1, share: 1 };
  if (base.unit < 0) return whole;
  const input = run.setup.units[base.unit].input;
  const unit = float.units.findIndex((u) => u.input === input);
  if (unit < 0) return whole;
  const same = fitness.unitBoundary(unit).join() === base.fitness.unitBoundary(base.unit).join();
  return same ? { ...base, fitness, unit } : whole;
}

export async function weightSensitivity(run: SensitivityRun): Promise<WeightSensitivity> {
  const { setup, base, lowered, measure, progress } = run;
  const images = sliceBatch(run.calibration, 0, Math.min(SENSITIVITY_IMAGES, run.calibration.dims[0]));
  const fitness = new Fitness(setup, base, lossFunction(measure, 1));
  const structure = setup.simulate(base).graph;
  const insides = setup.units.map((u) => new Set([...downstreamNodes(structure, u.input)].map((n) => n.name)));
  const total = structure.nodes.length;
  const steps = lowered.reduce((n, l) => n + Object.keys(l.params).length + (l.float ? 1 : 0), 0);
  progress.start('width sensitivity', steps);
  const scored = await fitness.score(images);
  const { fitness: baseMeasure, unitInputs } = await fitness.full(base, scored, true);
  let [done, forwards] = [0, 2];
  const rise: Record<string, Record<number, number>> = {};
  try {
    for (const { point, params, float } of lowered) {
      rise[point.id] = {};
      const unit = shortestSuffix(insides, point.node);
      const m: Measuring = { fitness, scored, unitInputs, unit, share: unit < 0 ? 1 : insides[unit].size / total };
      const candidates: [number, Measuring, Readonly<Record<string, QuantParams>>][] = Object.entries(params).map(
        ([bits, p]) => [Number(bits), m, { ...base, [point.id]: p }],
      );
      if (float) candidates.push([FLOAT_WIDTH, floatMeasuring(run, m, float), base]);
      for (const [bits, with_, candidate] of candidates) {
        rise[point.id][bits] = (await measured(with_, candidate)) - baseMeasure;
        forwards += with_.share;
        progress.update(++done);
      }
    }
  } finally {
    fitness.releaseUnitInputs();
    progress.end();
  }
  return { base: baseMeasure, rise, measure, images: images.dims[0], forwards };
}
