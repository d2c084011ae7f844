// Each weight's sensitivity to its width: the rise of a fitness measure over the float model's outputs when that
// weight alone takes a lower width, every other point as calibrated. A weight inside a search unit's suffix runs
// only that suffix, from the unit inputs cached by one quantized forward (src/fitness); a weight before every
// unit (a patch embedding) runs the whole model.
import { Fitness, type FitnessSetup } from '../fitness/fitness.js';
import { lossFunction, type Loss } from '../fitness/losses.js';
import { downstreamNodes } from '../onnx/walk.js';
import { sliceBatch, type ImageBatch } from '../data/imagefolder.js';
import type { QuantParams } from '../quant/scheme.js';
import type { QuantPoint } from '../quant/points.js';
import type { Progress } from '../progress.js';

/** Calibration images the sensitivity pass runs on (the first of the drawn set). */
export const SENSITIVITY_IMAGES = 256;

export interface WeightSensitivity {
  /** The measure with every weight at the widest width. */
  base: number;
  /** Per weight point, per lower width: the measure's rise when that point alone takes it. */
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
  /** Weight points and their params at each lower width. */
  lowered: readonly { point: QuantPoint; params: Readonly<Record<number, QuantParams>> }[];
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

export async function weightSensitivity(run: SensitivityRun): Promise<WeightSensitivity> {
  const { setup, base, lowered, measure, progress } = run;
  const images = sliceBatch(run.calibration, 0, Math.min(SENSITIVITY_IMAGES, run.calibration.dims[0]));
  const fitness = new Fitness(setup, base, lossFunction(measure, 1));
  const structure = setup.simulate(base).graph;
  const insides = setup.units.map((u) => new Set([...downstreamNodes(structure, u.input)].map((n) => n.name)));
  const total = structure.nodes.length;
  const steps = lowered.reduce((n, l) => n + Object.keys(l.params).length, 0);
  progress.start('width sensitivity', steps);
  const scored = await fitness.score(images);
  const { fitness: baseMeasure, unitInputs } = await fitness.full(base, scored, true);
  let [done, forwards] = [0, 2];
  const rise: Record<string, Record<number, number>> = {};
  try {
    for (const { point, params } of lowered) {
      rise[point.id] = {};
      const u = shortestSuffix(insides, point.node);
      for (const [bits, p] of Object.entries(params)) {
        const candidate = { ...base, [point.id]: p };
        let value: number;
        if (u < 0) {
          value = (await fitness.full(candidate, scored)).fitness;
          forwards++;
        } else {
          const suffix = await fitness.unitOutputs(u, [], candidate, scored, unitInputs);
          try {
            value = fitness.lossOf(await suffix.logits([]), scored);
          } finally {
            await suffix.release();
          }
          forwards += insides[u].size / total;
        }
        rise[point.id][Number(bits)] = value - baseMeasure;
        progress.update(++done);
      }
    }
  } finally {
    fitness.releaseUnitInputs();
    progress.end();
  }
  return { base: baseMeasure, rise, measure, images: images.dims[0], forwards };
}
