// What a quantize run warns of: model.onnx slower than the float model, or its accuracy away from the simulation's.
import { pct } from '../report/markup.js';
import type { Accuracy } from '../evaluate/metrics.js';
import { batch1Times, batchRates, type SpeedReport } from '../evaluate/speed.js';
import type { QuantizeOptions } from '../options/table.js';
import type { QuantizedAccuracy } from './evaluate-quantized.js';
import type { QuantPoint } from '../quant/points.js';

/** 0.2 points of top-1 (one image in 500): model.onnx should classify as the simulation does, image for image. */
export const TOP1_TOLERANCE = 0.002;
/** KL to float 10% above the simulation's: beyond the rounding differences between the kernels and the simulation. */
export const KL_TOLERANCE = 0.1;

type SpeedOptions = Pick<QuantizeOptions, 'wBits' | 'exportFormat' | 'floatFallback'>;

export function quantizeWarnings(run: {
  accuracy: QuantizedAccuracy;
  /** For a model without id2label, the class folders the evaluated images came from (taken in sorted order). */
  classFolders?: number;
  speed?: SpeedReport;
  options: SpeedOptions;
  /** The kernels of model.onnx that saturate on x86 without VNNI (src/export/saturation.ts). */
  saturable?: readonly string[];
  /** The quant points the run had, after --float-layers and --float-fallback. */
  prepared?: { points: readonly QuantPoint[] };
}): string[] {
  const { accuracy, speed, options, saturable = [], prepared } = run;
  const nothingQuantized = prepared && !prepared.points.some((p) => p.kind === 'weight');
  return [
    ...(nothingQuantized
      ? [
          'no layer is quantized: --float-layers or --float-fallback kept every one float, so model.onnx computes the float model (report.json: exported.floatLayers)',
        ]
      : []),
    ...saturationWarnings(saturable),
    ...(speed ? speedWarnings(speed, options) : []),
    ...accuracyWarnings(accuracy),
    ...evaluationWarnings(accuracy, run.classFolders),
  ];
}

/** Below this share of images with float's top-1, a quantized model is another model, whatever its top-1. */
export const AGREEMENT_FLOOR = 0.9;
/** Below this mean cosine similarity to float's embeddings, an image encoder's quantized model is another model. */
export const COSINE_FLOOR = 0.9;

/**
 * Warnings where the evaluation measures little: the float model gives every image the same output, a model without
 * id2label has another number of classes than the folders, or model.onnx agrees with float on fewer than 90% of the
 * images.
 */
export function evaluationWarnings(accuracy: QuantizedAccuracy, classFolders?: number): string[] {
  const { fp, exported } = accuracy;
  const warnings: string[] = [];
  if (fp.constantOutput)
    warnings.push(
      `the float model gives all ${fp.n} evaluated images the same output: its weights or its preprocessing do not depend on the image, and its accuracies measure nothing`,
    );
  warnings.push(...classCountWarnings(fp.classes, classFolders));
  const agreement = exported.toReference?.agreement;
  const cosine = exported.toReference?.cosine;
  const remedy = 'try more weight or activation bits, --method evolq, or --float-layers for the layers that lose most';
  if (agreement !== undefined && agreement < AGREEMENT_FLOOR && !fp.constantOutput)
    warnings.push(
      `model.onnx has float's ${cosine === undefined ? 'top-1' : 'k-NN label'} on only ${pct(agreement)} of the images: it computes another model; ${remedy}`,
    );
  if (cosine !== undefined && cosine < COSINE_FLOOR && !fp.constantOutput)
    warnings.push(
      `model.onnx's embeddings have a mean cosine similarity of only ${cosine.toFixed(3)} to float's: it computes another model; ${remedy}`,
    );
  return warnings;
}

/** A model without id2label whose class count is not the number of class folders its images were labelled from. */
export function classCountWarnings(classes: number | undefined, classFolders: number | undefined): string[] {
  if (classFolders === undefined || !classes || classes === classFolders) return [];
  return [
    `the model outputs ${classes} classes and its config.json has no id2label: the ${classFolders} class folders were taken as classes 0..${classFolders - 1} in sorted order, so top-1 means something only if that is the model's order; add id2label to config.json`,
  ];
}

/** One warning where model.onnx has kernels that x86 CPUs without VNNI saturate (src/export/saturation.ts). */
export function saturationWarnings(saturable: readonly string[]): string[] {
  if (!saturable.length) return [];
  const named = saturable.slice(0, 3).join(', ') + (saturable.length > 3 ? ', …' : '');
  return [
    `model.onnx has ${saturable.length} integer kernel${saturable.length > 1 ? 's' : ''} (${named}) whose uint8 × int8 products can overflow the 16-bit pair sums of x86 CPUs without VNNI (AVX2): there onnxruntime saturates them and computes another model than the simulated one; --reduce-range (the default) keeps 8-bit weights on 7-bit levels, which cannot overflow`,
  ];
}

/** One warning where model.onnx is slower than the float model at batch 1 or at the batch size, with what to try. */
export function speedWarnings(speed: SpeedReport, options: SpeedOptions): string[] {
  const slower = [
    ...(speed.speedup.batch1 < 1
      ? [`${speed.speedup.batch1.toFixed(2)}× its speed at batch 1 (${batch1Times(speed)})`]
      : []),
    ...(speed.speedup.batch < 1 && speed.batchSize > 1
      ? [`${speed.speedup.batch.toFixed(2)}× at batch ${speed.batchSize} (${batchRates(speed)})`]
      : []),
  ];
  if (!slower.length) return [];
  return [`model.onnx runs slower than the float model on this CPU: ${slower.join(', ')}; ${advice(speed, options)}`];
}

function advice(speed: SpeedReport, options: SpeedOptions): string {
  if (options.wBits < 8 && (options.exportFormat === 'qdq' || options.exportFormat === 'blocked'))
    return `at ${options.wBits}-bit weights, --export-format per-channel (the default) runs the MatMuls and Convs as 8-bit kernels`;
  const flags = speed.cpu.flags;
  const noVnni = flags !== 'unknown' && !flags.avx512_vnni && !flags.avx_vnni && !flags.amx_tile;
  const cpu = noVnni
    ? "this CPU lists none of avx512_vnni, avx_vnni, amx_tile, with which onnxruntime's 8-bit kernels run fastest"
    : "onnxruntime's integer kernels may not beat float on this CPU";
  if (!options.floatFallback)
    return `${cpu}; --float-fallback (the default) keeps float the layer classes that run faster so`;
  return `${cpu}; the layers still integer each timed faster so before calibration (report.json: floatFallback), and a few percent is within a busy machine's noise; --float-layers keeps more of them float`;
}

/** Warnings where model.onnx's top-1 or KL to float leaves the simulated model's (Evol-Q's when searched). */
export function accuracyWarnings(accuracy: QuantizedAccuracy): string[] {
  const simulated: [string, Accuracy] = accuracy.evolq ? ['Evol-Q', accuracy.evolq] : ['baseline', accuracy.baseline];
  const [name, sim] = simulated;
  const exported = accuracy.exported;
  const warnings: string[] = [];
  const gap = exported.top1 === null || sim.top1 === null ? 0 : exported.top1 - sim.top1;
  // The epsilon keeps a gap of exactly 0.2 points, as fractions of the image count compute it, within.
  if (Math.abs(gap) > TOP1_TOLERANCE + 1e-9)
    warnings.push(
      `model.onnx's top-1 ${pct(exported.top1)} is ${(100 * Math.abs(gap)).toFixed(2)} points ${gap < 0 ? 'below' : 'above'} the simulated ${name}'s ${pct(sim.top1)}`,
    );
  const kl = exported.toReference?.kl;
  const simKl = sim.toReference?.kl;
  if (kl !== undefined && simKl !== undefined && kl > simKl * (1 + KL_TOLERANCE))
    warnings.push(
      `model.onnx's KL to float ${kl.toPrecision(4)} is ${simKl > 0 ? `${(100 * (kl / simKl - 1)).toFixed(0)}% ` : ''}above the simulated ${name}'s ${simKl.toPrecision(4)}`,
    );
  // An encoder's 1 − cosine plays KL's part: model.onnx's should be the simulation's within the same 10%.
  const [cosine, simCosine] = [exported.toReference?.cosine, sim.toReference?.cosine];
  if (cosine !== undefined && simCosine !== undefined && 1 - cosine > (1 - simCosine) * (1 + KL_TOLERANCE) + 1e-6)
    warnings.push(
      `model.onnx's embeddings are further from float's (1 − cosine ${(1 - cosine).toPrecision(3)}) than the simulated ${name}'s (${(1 - simCosine).toPrecision(3)})`,
    );
  return warnings;
}
