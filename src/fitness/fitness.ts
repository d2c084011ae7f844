// Fitness without waste: full-precision logits computed once, one quantized forward per pass for every unit's
// input, and per candidate only the suffix graph from its unit to the logits.
import { pooledTensor } from '../evaluate/embeddings.js';
import type { Graph } from '../onnx/graph.js';
import { floatValueInfo } from '../onnx/proto.js';
import type { Runner, Session, FloatTensor } from '../runtime/runner.js';
import { simulationFeeds, type Simulation } from '../quant/materialize.js';
import type { QuantPoint } from '../quant/points.js';
import type { SearchUnit } from '../quant/units.js';
import type { QuantParams } from '../quant/scheme.js';
import type { ImageBatch } from '../data/imagefolder.js';
import { batchLoss, type LossFunction } from './losses.js';
import { suffixBoundary, suffixGraph } from './suffix.js';
import { UnitInputs, type SpillReport } from './unit-inputs.js';
import { joinImages, runPixels, splitBatches, type ImagesRan, type Scored, type ScoredImages } from './batches.js';
import { Race, RACE_MIN_IMAGES, type RaceSettings } from './race.js';

export { UnitInputs, type SpillReport };

export interface FitnessSetup {
  runner: Runner;
  /** The float model, for the full-precision logits. */
  graph: Graph;
  /**
   * Builds the simulation graph for `params`, baked into constants except the points in `feed`, which stay
   * graph inputs: a unit's candidates are feeds, everything else runs as folded integer kernels.
   */
  simulate: (params: Readonly<Record<string, QuantParams>>, feed?: ReadonlySet<string>) => Simulation;
  points: readonly QuantPoint[];
  units: readonly SearchUnit[];
  inputName: string;
  outputName: string;
  batchSize: number;
  /**
   * Images per onnxruntime run (default `batchSize`): a batch runs in pieces of this many and its logits are joined
   * before the loss, so onnxruntime's working memory follows the memory budget while batches, losses and racing stay
   * as they are.
   */
  forwardImages?: number;
  /** Bytes of cached unit inputs to hold in memory (default: all), and the folder the rest spills to. */
  unitInputBudget?: number;
  spillFolder?: string;
}

/** Replaces the scales of some points, keeping everything else. */
export function withScales(
  params: Readonly<Record<string, QuantParams>>,
  scales: Readonly<Record<string, ArrayLike<number>>>,
): Record<string, QuantParams> {
  const out: Record<string, QuantParams> = { ...params };
  for (const [id, values] of Object.entries(scales)) {
    const p = params[id];
    if (p.kind === 'uniform') out[id] = { ...p, scale: Float32Array.from(values) };
  }
  return out;
}

const finite = (x: number) => (Number.isFinite(x) ? x : Infinity);

export class Fitness {
  /**
   * Suffix evaluations, full quantized forwards (calibration set), holdout forwards; `suffixEquivalent` counts the
   * suffix evaluations in whole ones, a raced candidate stopped after 3 of 10 batches as 0.3.
   */
  readonly forwards = { suffix: 0, suffixEquivalent: 0, fullCalibration: 0, holdout: 0 };
  private readonly boundaries: string[][];
  private readonly cached: string[];
  /** The unit inputs of the latest pass (its spilled files are deleted when the next pass caches its own). */
  private unitInputs?: UnitInputs;

  constructor(
    private readonly setup: FitnessSetup,
    baseParams: Readonly<Record<string, QuantParams>>,
    private readonly loss: LossFunction,
  ) {
    const structure = setup.simulate(baseParams).graph;
    this.boundaries = setup.units.map((u) => suffixBoundary(structure, u.input, setup.inputName));
    this.cached = [...new Set(this.boundaries.flat())].filter((t) => t !== setup.inputName);
  }

  /** The tensors unit `u`'s suffix reads: what the cached unit inputs hold for it. */
  unitBoundary(u: number): readonly string[] {
    return this.boundaries[u];
  }

  /** Full-precision logits of `images`, batch by batch; `ran` hears of each batch's images as they are done. */
  async score(images: ImageBatch, ran?: ImagesRan): Promise<ScoredImages> {
    const { batchSize, forwardImages = batchSize } = this.setup;
    const scored = { images, ...splitBatches(images.dims[0], batchSize, forwardImages), reference: [] };
    return { ...scored, reference: await this.run(this.setup.graph.toBytes(), scored, ran) };
  }

  /** A model's logits over the images, one tensor per batch. */
  private async run(
    model: Uint8Array,
    { images, pieces }: Pick<ScoredImages, 'images' | 'pieces'>,
    ran?: ImagesRan,
  ): Promise<FloatTensor[]> {
    const { runner, inputName, outputName } = this.setup;
    const session = await runner.createSession(model);
    const outputs: FloatTensor[] = [];
    try {
      for (const batch of pieces) {
        const logits: FloatTensor[] = [];
        for (const r of batch) {
          logits.push(
            pooledTensor((await session.run({ [inputName]: runPixels(images, r) }, [outputName]))[outputName]),
          );
          ran?.(r[1] - r[0]);
        }
        outputs.push(joinImages(logits));
      }
    } finally {
      await session.release();
    }
    return outputs;
  }

  private batchLoss(q: FloatTensor, k: FloatTensor, rows?: Float64Array, offset?: number): number {
    return batchLoss(this.loss, q, k, rows, offset);
  }

  /** The whole quantized model's fitness and per-image terms; with `keepUnitInputs`, also every unit's input per batch. */
  async full(
    params: Readonly<Record<string, QuantParams>>,
    scored: ScoredImages,
    keepUnitInputs = false,
    ran?: ImagesRan,
  ): Promise<Scored & { unitInputs: UnitInputs }> {
    const { runner, simulate, inputName, outputName } = this.setup;
    const probe = simulate(params).graph;
    const fetched = keepUnitInputs ? this.cached : [];
    for (const t of fetched) probe.outputs.push(floatValueInfo(t));
    const session = await runner.createSession(probe.toBytes());
    if (keepUnitInputs) this.releaseUnitInputs();
    let unitInputs: UnitInputs | undefined;
    let total = 0;
    const rows = new Float64Array(scored.images.dims[0]);
    let piece = 0;
    try {
      for (const [b, batch] of scored.pieces.entries()) {
        const logits: FloatTensor[] = [];
        for (const r of batch) {
          const x = runPixels(scored.images, r);
          const out = await session.run({ [inputName]: x }, [outputName, ...fetched]);
          logits.push(pooledTensor(out[outputName]));
          ran?.(r[1] - r[0]);
          if (!keepUnitInputs) continue;
          // onnxruntime keeps a run's fetched tensors in its arena until the session ends: the budget holds them too.
          const fetchedBytes = fetched.reduce((n, t) => n + out[t].data.byteLength, 0);
          unitInputs ??= this.unitInputs = new UnitInputs(
            Math.max(0, (this.setup.unitInputBudget ?? Infinity) - fetchedBytes),
            this.setup.spillFolder,
          );
          // The pixels are a view of images held anyway: kept, not counted against the budget.
          unitInputs.put(piece++, Object.fromEntries(fetched.map((t) => [t, out[t]])), { [inputName]: x });
        }
        total += this.batchLoss(joinImages(logits), scored.reference[b], rows, scored.ranges[b][0]);
      }
    } finally {
      await session.release();
    }
    return { fitness: finite(total / scored.ranges.length), rows, unitInputs: unitInputs ?? new UnitInputs() };
  }

  /** The whole quantized model's logits, batch by batch (the holdout's selection measures are computed from them). */
  logits(params: Readonly<Record<string, QuantParams>>, scored: ScoredImages, ran?: ImagesRan): Promise<FloatTensor[]> {
    return this.run(this.setup.simulate(params).graph.toBytes(), scored, ran);
  }

  /** The fitness loss of logits from `logits` against the reference. */
  lossOf(quantized: readonly FloatTensor[], scored: ScoredImages): number {
    return finite(
      quantized.reduce((total, q, b) => total + this.batchLoss(q, scored.reference[b]), 0) / quantized.length,
    );
  }

  /** Deletes the latest pass's spilled unit inputs; returns what spilled (undefined when nothing was cached). */
  releaseUnitInputs(): SpillReport | undefined {
    const report = this.unitInputs?.report;
    this.unitInputs?.dispose();
    this.unitInputs = undefined;
    return report;
  }

  /**
   * A fitness for candidate scales of unit `u` (its searched points `ids`), running only the suffix from the
   * unit's input. The other points keep `params`. With a `rival` and `race.z` > 0 the candidate is raced against
   * it (see RaceSettings) and undefined means it stopped, worse. Release the returned evaluator when done.
   */
  async unit(
    u: number,
    ids: readonly string[],
    params: Readonly<Record<string, QuantParams>>,
    scored: ScoredImages,
    unitInputs: UnitInputs,
    race: RaceSettings = { z: 0, minImages: RACE_MIN_IMAGES },
  ): Promise<{
    evaluate: (scales: readonly Float32Array[], rival?: Scored) => Promise<Scored | undefined>;
    release: () => Promise<void>;
  }> {
    const suffix = await this.unitOutputs(u, ids, params, scored, unitInputs);
    const batches = scored.ranges.length;
    const evaluate = async (scales: readonly Float32Array[], rival?: Scored) => {
      const rows = new Float64Array(scored.images.dims[0]);
      let total = 0;
      let run = 0;
      const racing = new Race(race, batches, rival);
      const stopped = await suffix.run(scales, (b, q) => {
        run++;
        total += this.batchLoss(q, scored.reference[b], rows, scored.ranges[b][0]);
        return racing.goesOn(rows, b, scored.ranges[b]);
      });
      this.forwards.suffix++;
      this.forwards.suffixEquivalent += run / batches;
      return stopped ? undefined : { fitness: finite(total / batches), rows };
    };
    return { evaluate, release: suffix.release };
  }

  /**
   * The quantized logits per batch for candidate scales of unit `u`, from its suffix (as `unit` scores them). With
   * `next`, each batch's logits go to it as they come, and a false from it stops the run: `run` then resolves to
   * true and the logits gathered so far are returned incomplete.
   */
  async unitOutputs(
    u: number,
    ids: readonly string[],
    params: Readonly<Record<string, QuantParams>>,
    scored: ScoredImages,
    unitInputs: UnitInputs,
  ): Promise<{
    run: (scales: readonly Float32Array[], next?: (batch: number, logits: FloatTensor) => boolean) => Promise<boolean>;
    logits: (scales: readonly Float32Array[]) => Promise<FloatTensor[]>;
    release: () => Promise<void>;
  }> {
    const { runner, simulate, points, outputName } = this.setup;
    const simulation = simulate(params, new Set(ids));
    const boundary = this.boundaries[u];
    const session: Session = await runner.createSession(
      suffixGraph(simulation.graph, boundary, [outputName]).toBytes(),
    );
    // Spilled tensors come back from disk a piece at a time, at every evaluation: a unit's whole input set is never
    // in memory at once (docs/notes/misc.md has how large one gets).
    if (unitInputs.pieces !== scored.pieces.flat().length)
      throw new Error(`unit inputs: ${unitInputs.pieces} pieces cached for ${scored.pieces.flat().length} runs`);
    const run = async (scales: readonly Float32Array[], next?: (batch: number, logits: FloatTensor) => boolean) => {
      const candidate = withScales(params, Object.fromEntries(ids.map((id, i) => [id, scales[i]])));
      const feeds = simulationFeeds(simulation, points, candidate);
      let piece = 0;
      for (const [b, batch] of scored.pieces.entries()) {
        const logits: FloatTensor[] = [];
        for (let i = 0; i < batch.length; i++)
          logits.push(
            pooledTensor(
              (await session.run({ ...feeds, ...unitInputs.piece(piece++, boundary) }, [outputName]))[outputName],
            ),
          );
        if (next && !next(b, joinImages(logits))) return true;
      }
      return false;
    };
    const logits = async (scales: readonly Float32Array[]) => {
      const outputs: FloatTensor[] = [];
      await run(scales, (_, q) => (outputs.push(q), true));
      return outputs;
    };
    return { run, logits, release: () => session.release() };
  }
}
