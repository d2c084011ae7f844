// --float-fallback: the layer classes (MatMul, Gemm, Conv, DepthwiseConv) whose integer kernels make model.onnx
// slower on this CPU stay float. Measured before calibration on the model quantized from a few images (the kernels'
// speed does not depend on the scales), in steps: the model as it stands against it with one more class float, for
// each class, in interleaved rounds at batch 1 and at the batch size (docs/notes/speed.md). On by default.
import { calibrate } from '../calibrate/calibrate.js';
import { sliceBatch, type ImageBatch } from '../data/imagefolder.js';
import { EXPORT_FORMATS, formatWeightBlock } from '../export/formats.js';
import type { QuantizeOptions } from '../options/table.js';
import type { FloatTensor, Runner, Session } from '../runtime/runner.js';
import { median, TIMED, timeInterleaved, type SpeedBounds } from '../evaluate/speed.js';
import { layerClass, withoutFloatLayers } from '../quant/float-layers.js';
import { findUnits } from '../quant/units.js';
import { findQuantPoints } from '../quant/points.js';
import { weightLevelBits } from '../quant/scheme.js';
import type { Prepared } from './prepare.js';
import type { Resume } from './resume.js';
import type { Progress } from '../progress.js';
import { ConfigError } from '../errors.js';

/** A class goes float only when that makes the model at least this much faster: below it, noise decides. */
export const FALLBACK_MARGIN = 0.05;
const PROFILE_IMAGES = 8;
const PROFILE_BOUNDS: SpeedBounds = { maxRounds: 15, minRounds: 5, budgetMs: 6000, now: () => performance.now() };

type Feeds = Record<string, FloatTensor>;

export interface ClassProfile {
  layerClass: string;
  layers: number;
  /**
   * The model's time over the model's with this class float too (geometric mean of batch 1 and batch N), measured
   * at the step that decided it (fallbackSteps).
   */
  speedup: number;
  float: boolean;
}

export interface FloatFallback {
  classes: ClassProfile[];
  /** The layers kept float: every layer of the classes that go float. */
  floatLayers: string[];
  batchSize: number;
  /** Timing rounds over all steps, and the steps (see fallbackSteps). */
  rounds: number;
  steps: number;
  seconds: number;
}

/**
 * Which classes go float, from the times of each round per variant [base b1, base bN, class₀ b1, class₀ bN, …].
 * Each round gives a class a paired gain: the base's time over its variant's in that round (a busy machine's load
 * drifts from round to round and cancels within one), the geometric mean of batch 1 and N. Its speedup is the
 * median over the rounds; it goes float when that beats the margin and three rounds in four saw it faster, so
 * that a few lucky rounds on a loaded machine do not decide.
 */
export function fallbackClasses(classes: ReadonlyMap<string, string[]>, times: readonly number[][]): ClassProfile[] {
  return [...classes].map(([name, layers], i) => {
    const gains = times[0].map((_, r) =>
      Math.sqrt((times[0][r] / times[2 + 2 * i][r]) * (times[1][r] / times[3 + 2 * i][r])),
    );
    const speedup = median(gains);
    const lowerQuartile = [...gains].sort((a, b) => a - b)[Math.floor((gains.length - 1) / 4)];
    return {
      layerClass: name,
      layers: layers.length,
      speedup,
      float: speedup > 1 + FALLBACK_MARGIN && lowerQuartile > 1,
    };
  });
}

/** The quantized layers of each class, by node name. */
function classesOf(prepared: Prepared): Map<string, string[]> {
  const { graph } = prepared.model;
  const classes = new Map<string, string[]>();
  for (const point of prepared.points.filter((p) => p.kind === 'weight')) {
    const node = graph.nodes.find((n) => n.name === point.node)!;
    const name = layerClass(graph, node);
    classes.set(name, [...(classes.get(name) ?? []), node.name]);
  }
  return classes;
}

/** Measures the profile: one session per variant, timed interleaved on the first images of `images`. */
export async function measureFloatFallback(
  runner: Runner,
  prepared: Prepared,
  images: ImageBatch,
  options: QuantizeOptions,
): Promise<FloatFallback> {
  const started = performance.now();
  const { model, points } = prepared;
  const few = sliceBatch(images, 0, Math.min(PROFILE_IMAGES, images.dims[0]));
  const table = await calibrate(runner, model.graph, model.inputName, points, few, {
    wBits: weightLevelBits(options.wBits, options.reduceRange),
    aBits: options.aBits,
    observer: 'minmax',
    ptf: options.ptf,
    lis: options.lis,
    biasCorrection: false,
    batchSize: PROFILE_IMAGES,
    weightBlock: formatWeightBlock(options.exportFormat),
    weightCorrection: options.weightCorrection,
    integerLayerNorm: options.integerLayerNorm,
  });
  const build = (float: ReadonlySet<string>) =>
    EXPORT_FORMATS[options.exportFormat]
      .build(
        model.graph,
        withoutFloatLayers(points, (n: string) => float.has(n)),
        table.params,
        table.inputMeans,
      )
      .graph.toBytes();
  const feeds = { one: { [model.inputName]: sliceBatch(few, 0, 1) }, many: { [model.inputName]: few } };
  const time = (variants: Set<string>[]) => timeVariants(runner, variants.map(build), feeds);
  const classes = classesOf(prepared);
  const { classes: profile, rounds, steps } = await fallbackSteps(classes, time);
  return {
    classes: profile,
    floatLayers: profile.filter((c) => c.float).flatMap((c) => classes.get(c.layerClass)!),
    batchSize: few.dims[0],
    rounds,
    steps,
    seconds: (performance.now() - started) / 1000,
  };
}

/** The times of each round per variant [v₀ b1, v₀ bN, v₁ b1, …] of models timed interleaved, and how many rounds ran. */
async function timeVariants(
  runner: Runner,
  variants: Uint8Array[],
  feeds: { one: Feeds; many: Feeds },
): Promise<{ times: number[][]; rounds: number }> {
  const sessions: Session[] = [];
  try {
    for (const bytes of variants) sessions.push(await runner.createSession(bytes, TIMED));
    const runs = sessions.flatMap((s) => [() => s.run(feeds.one), () => s.run(feeds.many)]);
    const times = await timeInterleaved(runs, PROFILE_BOUNDS);
    return { times, rounds: times[0].length };
  } finally {
    for (const s of sessions) await s.release();
  }
}

/**
 * The classes kept float, step by step: each step times the model as it stands (the classes chosen so far float)
 * against it with each remaining class float too, and the classes that make it faster than the margin go float;
 * the next step measures the rest again, since which layers pay off as integers depends on their neighbours (the
 * dense convolutions of a network whose depthwise ones went float may be faster float too). It stops when a step
 * moves nothing or every class is float. `time` takes the variants as sets of layer names.
 */
export async function fallbackSteps(
  classes: ReadonlyMap<string, string[]>,
  time: (variants: Set<string>[]) => Promise<{ times: number[][]; rounds: number }>,
): Promise<{ classes: ClassProfile[]; rounds: number; steps: number }> {
  const decided: ClassProfile[] = [];
  let open = new Map(classes);
  let rounds = 0;
  let steps = 0;
  while (open.size) {
    const base = new Set(decided.flatMap((c) => classes.get(c.layerClass)!));
    const measured = await time([base, ...[...open.values()].map((layers) => new Set([...base, ...layers]))]);
    rounds += measured.rounds;
    steps++;
    const step = fallbackClasses(open, measured.times);
    decided.push(...step.filter((c) => c.float));
    if (!step.some((c) => c.float)) {
      decided.push(...step);
      break;
    }
    open = new Map([...open].filter(([name]) => !decided.some((c) => c.layerClass === name)));
  }
  const order = [...classes.keys()];
  return { classes: decided.sort((a, b) => order.indexOf(a.layerClass) - order.indexOf(b.layerClass)), rounds, steps };
}

/** The profile as the CLI prints it: which classes went float and how much each would gain. */
export function fallbackLine(f: FloatFallback): string {
  const gain = (c: ClassProfile) => `${c.layerClass} (${c.layers}) ${c.speedup.toFixed(2)}×`;
  const float = f.classes.filter((c) => c.float);
  const kept = f.classes.filter((c) => !c.float);
  return (
    `float fallback: ${float.length ? `kept float ${float.map(gain).join(', ')}` : 'every layer class stays integer'}` +
    `${kept.length ? `; integer ${kept.map(gain).join(', ')}` : ''} (model.onnx's speed with the class float too; ` +
    `${f.steps} step${f.steps === 1 ? '' : 's'}, ${f.rounds} rounds at batch 1 and ${f.batchSize}, ${f.seconds.toFixed(1)} s)`
  );
}

/**
 * The layers kept float beyond --float-layers: a resumed run's (from its checkpoint), or with --float-fallback those
 * measured now; undefined without --float-fallback.
 */
export async function settleFloatLayers(
  runner: Runner,
  prepared: Prepared,
  calibration: ImageBatch,
  run: { options: QuantizeOptions; resume: Resume; progress: Progress },
): Promise<{ prepared: Prepared; floatFallback?: FloatFallback; floatLayers?: string[] }> {
  const { options, resume, progress } = run;
  if (!options.floatFallback) return { prepared };
  const resumed = resume.floatLayers;
  const floatFallback = resumed ? undefined : await measureFloatFallback(runner, prepared, calibration, options);
  if (floatFallback) progress.log(fallbackLine(floatFallback));
  const floatLayers = resumed ?? floatFallback!.floatLayers;
  const settled = withFloatLayers(prepared, options, floatLayers);
  if (options.method === 'evolq' && !settled.units.length)
    throw new ConfigError(
      `--float-fallback kept float every layer of ${prepared.model.file}'s search units, so there is nothing for --method evolq to search; use --method baseline or --no-float-fallback`,
      '--float-fallback',
    );
  return { prepared: settled, floatFallback, floatLayers };
}

/** The prepared model with these layers also kept float: its points and units found again without them. */
export function withFloatLayers(prepared: Prepared, options: QuantizeOptions, layers: readonly string[]): Prepared {
  if (!layers.length) return prepared;
  const points = findQuantPoints(prepared.model.graph, {
    ...options,
    floatLayers: [...options.floatLayers, ...layers],
  });
  return { ...prepared, points, units: findUnits(prepared.model.graph, points, options.searchSpace) };
}
