// The report types: what quantize and landscape write (report.json, landscape.json) and report.html renders.
// Here, not in the pipeline, so the pipeline imports the report and the report imports nothing of the pipeline.
import type { WidthsReport } from '../widths/report.js';
import type { FloatFallback } from '../pipeline/float-fallback.js';
import type { QuantizeOptions } from '../options/table.js';
import type { SearchReport } from '../search/report.js';
import type { FloatSubgraph } from '../export/deployable.js';
import type { WeightStorage } from '../quant/kinds/kind.js';
import type { RuntimeReport } from '../runtime/runner.js';
import type { SkippedImage } from '../data/imagefolder.js';
import type { Landscape, LandscapeSettings } from '../landscape/landscape.js';
import type { CollectReport } from '../calibrate/collect.js';
import type { SpillReport } from '../fitness/unit-inputs.js';
import type { SpeedReport } from '../evaluate/speed.js';
import type { Verdict } from '../evaluate/verdict.js';
import type { DetectedTask } from '../task.js';

/** A file of OUT: its size in bytes (null for the report, which lists itself) and what it is for. */
export interface OutputFile {
  name: string;
  bytes: number | null;
  purpose: string;
}

/** Accuracy on the evaluated images; a quantized model's also against the float model's on the same images. */
export interface ScoredAccuracy {
  /** Against the images' labels; null where the images have none (an unlabeled --calib's holdout). */
  top1: number | null;
  top5: number | null;
  /**
   * A classifier's mean KL(softmax(float) ‖ softmax(quantized)) per image and the share of images with the float
   * model's top-1; an image encoder's mean cosine similarity to float's embeddings and k-NN label agreement.
   */
  toFloat?: { kl?: number; agreement?: number; cosine?: number };
}

export interface QuantizeReport {
  /** model.onnx's top-1 against float's and the baseline's with 95% intervals, KL, size and speed, in one line. */
  verdict: Verdict;
  settings: QuantizeOptions & { model: string; calib: string; eval: string | null };
  /** Class logits or an image encoder's embedding, and why evolq took the output so. */
  task: DetectedTask;
  /**
   * The images accuracies were measured on; without labels, top-1 and top-5 are null. `measure`: what top-1 is of
   * (the class logits, or a k-NN classifier over an encoder's embeddings of these images).
   */
  evaluatedOn: { images: string; n: number; split: 'eval' | 'holdout'; labeled: boolean; measure: string };
  points: Record<string, number>;
  units: { name: string; kind: string; points: string[] }[];
  fp: ScoredAccuracy;
  baseline: ScoredAccuracy;
  evolq?: ScoredAccuracy;
  /** OUT/model.onnx: its accuracy, size against the float model, and what it stores how. */
  exported: ScoredAccuracy & {
    bytes: number;
    floatBytes: number;
    sizeRatio: number;
    opset: number;
    weights: Record<WeightStorage, { tensors: number; bytes: number }>;
    floatSubgraphs: FloatSubgraph[];
    /** The operators onnxruntime-node (CPU) runs it with after its optimizations. */
    kernels: Record<string, number>;
    /** The layers kept float, and why. */
    floatLayers: { node: string; opType: string; reason: string }[];
    /** Those kernels whose uint8 × int8 products can saturate on x86 CPUs without VNNI (src/export/saturation.ts). */
    saturable: string[];
    /** Timed against the float model on the machine that ran quantize (absent with --no-speed). */
    speed?: SpeedReport;
    /** The same model under the name transformers.js loads for its dtype, the image processor added to preprocessor_config.json, and what else was written for transformers.js (a bare export's config, renamed input and output). */
    transformersJs: { dtype: 'q8' | 'q4'; file: string; imageProcessorAdded?: string; added?: string[] };
  };
  /** --float-fallback's profile: each layer class's speedup when float, and the layers it kept float. */
  floatFallback: FloatFallback | null;
  timing: Record<string, number>;
  /** The execution provider, threads and onnxruntime version that ran it. */
  runtime: RuntimeReport | null;
  /** --size-budget: each weight's width, bytes and sensitivity, and how the widths were chosen (null without a budget). */
  widths: WidthsReport | null;
  search: SearchReport | null;
  /** Per searched point: how far Evol-Q moved its scales from the baseline's (mean and max of |Δs / s|). */
  scaleMovement: { point: string; kind: string; meanRelativeChange: number; maxRelativeChange: number }[];
  /** BatchNormalizations folded into the adjacent layers before quantization, and those kept (float, with why). */
  batchNorm: { folded: number; kept: { node: string; reason: string }[] };
  /**
   * The memory budget (--memory-budget, bytes), the decoded images' bytes, how calibration chunked its runs,
   * the images per onnxruntime run of the search's forwards (null without a search), and what the search's
   * cached unit inputs held in memory and spilled to disk.
   */
  memory: {
    budget: number;
    images: { calibration: number; holdout: number };
    calibration: CollectReport | null;
    searchForwardImages: number | null;
    unitInputs: SpillReport | null;
  };
  /** Images left out with --skip-bad-images because they did not decode. */
  skippedImages: SkippedImage[];
  /** What the run warns of (also on stderr): model.onnx slower than float, or its accuracy away from the simulation's. */
  warnings: string[];
  /** Each file of OUT, its size and what it is for. */
  files: OutputFile[];
}

export interface LandscapeFile extends Landscape {
  settings: LandscapeSettings & {
    model: string;
    calib: string;
    eval: string | null;
    wBits: number;
    aBits: number;
    seed: number;
    searchSpace: string;
    calibImages: number;
    evalImages: number;
  };
  unit: { index: number; name: string; kind: string; points: string[] };
  runtime: RuntimeReport | null;
  seconds: number;
  /** The files written. */
  files: string[];
}
