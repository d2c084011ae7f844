// Typed options with their defaults in one place, and validation that names the option and the allowed values.
import { ConfigError } from './errors.js';
import { OBSERVERS, type Observer } from './calibrate/observers.js';
import { LOSSES, type Loss } from './fitness/losses.js';
import { EXPORT_FORMATS, EXPORT_FORMAT_NAMES, type ExportFormat } from './export/formats.js';
import { SELECTIONS, type Selection } from './search/selection.js';
import { DEFAULT_MEMORY_BUDGET, parseMemoryBudget } from './memory.js';

export type { Loss };
import type { SearchSpace } from './quant/units.js';

export type Method = 'baseline' | 'evolq';
/** Named sets of quantization options: `default` is evolq's own recipe, `paper` the Evol-Q authors' code's. */
export type Preset = 'default' | 'paper';
export type Mutation = 'absolute' | 'relative' | 'joint' | 'point';
/**
 * Where the search starts: the baseline, the baseline with the data-free weight correction (`corrected`), that
 * and each LayerNorm input's PTF refitted to what the LayerNorm reads, a PTF on each activation only MatMuls
 * read and below 8 bits the softmax on the log√2 quantizer (`fitted`), or (`auto`) whichever has the lower
 * fitness on the calibration images (`fitted` among them with activations below 8 bits).
 */
export type SearchStart = 'baseline' | 'corrected' | 'fitted' | 'auto';

export interface QuantizeOptions {
  method: Method;
  wBits: 8 | 4 | 3;
  aBits: 8 | 4;
  calibSize: number;
  holdout: number;
  evalLimit?: number;
  seed: number;
  passes: number;
  /** Stop the search after this many passes without a new lowest holdout measure (0: never). */
  patience: number;
  /**
   * Race each search candidate against the member it would replace, image by image, and stop it once it is worse
   * by this many standard errors (0: every candidate sees every calibration image).
   */
  race: number;
  /**
   * Multiply-accumulates the search may spend (float model's count per image × images, suffixes counted as far
   * as they run): no pass starts that the last pass's cost would take over it; the first always runs. 0: none.
   */
  searchBudget: number;
  cycles: number;
  population: number;
  loss: Loss;
  temperature: number;
  observer: Observer;
  ptf: boolean;
  lis: boolean;
  biasCorrection: boolean;
  searchSpace: SearchSpace;
  mutation: Mutation;
  /** The scales the search starts from; the kept result is still chosen against the baseline. */
  start: SearchStart;
  /** How the search's kept result is chosen on the holdout images (src/search/selection.ts). */
  select: Selection;
  resume: boolean;
  batchSize: number;
  /** Leave out images that do not decode (listed in report.json) instead of stopping at the first. */
  skipBadImages: boolean;
  /** How model.onnx stores its weights (src/export/formats.ts). */
  exportFormat: ExportFormat;
  /** Bytes of tensors evolq may hold (images, fetched tensors, cached unit inputs); chunk sizes and spilling follow. */
  memoryBudget: number;
  /** The preset the options below started from (explicit options override it). */
  preset: Preset;
  /** Also quantize attention logits, residual branches, patch embedding, class-token concat, position embedding, logits. */
  extraPoints: boolean;
  /** Q, K and V share one quantizer, on the tensor they are split from. */
  sharedQkv: boolean;
  /** FQ-ViT's integer LayerNorm on the PTF-quantized input, rounded to the next quantizer's scale. */
  intLayerNorm: boolean;
  /** Data-free: every forward rescales each output channel of the dequantized weight to the float weight's mean and std. */
  weightCorrection: boolean;
  /** The search's start gets each layer's mean output per channel moved onto the float model's (src/search/output-correction.ts). */
  outputCorrection: boolean;
}

/**
 * The default search budget: 100 T multiply-accumulates. The zoo's 32 px models spend under 6 T in 10 passes;
 * at 224 px ViT-S/16 (4.6 G per image) stops after its first pass, ViT-B/16 too.
 */
export const DEFAULT_SEARCH_BUDGET = 100e12;

/**
 * The search space when none is given, at activations below 8 bits: there the activation quantizers, not the
 * weights, lose most (vit-cifar10 W4A4: every activation at 4 bits puts the calibration KL at 0.056, every one
 * at 8 bits at 0.005), and searching them beside the block's weights scored higher on held-out training images
 * (seeds 0 and 1: 63.25 and 63.25 against 63.05 and 62.60 with attention units; README, "4-bit activations").
 */
export const LOW_ACTIVATION_SEARCH_SPACE: SearchSpace = 'block+activations';

/**
 * The mutation when none is given, at activations below 8 bits: one factor per quant point. With `joint` each
 * weight channel's scale also moves on its own, 896 free scales per block of vit-cifar10 that the 1,000
 * calibration images can be fitted with: vit-cifar10 W4A4 seed 0 on held-out training images, pass 1 took the
 * calibration KL from 0.0464 to 0.0440 and the holdout KL from 0.0466 to 0.0545. From the log√2 fitted start,
 * `point` ended at 64.35 top-1 (KL 0.0379 on 2,000 held-out training images) against `joint`'s 63.35 (0.0397),
 * float 64.65 (README, "4-bit activations: log√2 softmax and point mutation").
 */
export const LOW_ACTIVATION_MUTATION: Mutation = 'point';

/**
 * Whether the search's start gets `--output-correction` when neither the options nor the preset say: at
 * activations below 8 bits, whose rounding error is not zero-mean. vit-cifar10 W4A4 seed 0 on a tuning split
 * (2,000 held-out training images, KL and top-1 there; top-1 on 10,000 others), after the search: corrected per
 * channel, KL 0.0396, 64.05 / 63.88; with the first token of the ViT's MatMuls apart, KL 0.0335, 64.20 / 64.27
 * (baseline 0.0572, 63.25 / 63.30; float 65.60 / 65.73; README, "4-bit activations: the class token's correction").
 */
export const LOW_ACTIVATION_OUTPUT_CORRECTION = true;

export const DEFAULTS: QuantizeOptions = {
  method: 'baseline',
  wBits: 8,
  aBits: 8,
  calibSize: 1000,
  holdout: 200,
  seed: 0,
  passes: 10,
  patience: 0,
  race: 2,
  searchBudget: DEFAULT_SEARCH_BUDGET,
  cycles: 3,
  population: 15,
  loss: 'kl',
  temperature: 3,
  observer: 'omse',
  ptf: true,
  lis: false,
  biasCorrection: false,
  searchSpace: 'attention',
  mutation: 'joint',
  start: 'auto',
  select: 'kl',
  resume: false,
  batchSize: 100,
  skipBadImages: false,
  exportFormat: 'per-channel',
  memoryBudget: DEFAULT_MEMORY_BUDGET,
  preset: 'default',
  extraPoints: false,
  sharedQkv: false,
  intLayerNorm: false,
  weightCorrection: false,
  outputCorrection: false,
};

/**
 * What each preset sets over DEFAULTS. `paper`: the Evol-Q code's end-to-end recipe (config_fq with --ptf
 * --quant-method omse --bias-corr): its extra quantizers, one Q/K/V scale, integer LayerNorm, and its
 * data-free weight correction instead of evolq's data-based bias correction; and its search: infoNCE fitness,
 * absolute ±1e-4 mutation, the pass with the lowest holdout loss kept.
 */
export const PRESETS: Readonly<Record<Preset, Partial<QuantizeOptions>>> = {
  default: {},
  paper: {
    observer: 'omse', ptf: true, lis: false, biasCorrection: false,
    extraPoints: true, sharedQkv: true, intLayerNorm: true, weightCorrection: true,
    loss: 'infonce', mutation: 'absolute', select: 'loss', searchSpace: 'attention', start: 'baseline', race: 0, searchBudget: 0,
    outputCorrection: false,
  },
};
export const PRESET_NAMES = Object.keys(PRESETS) as Preset[];

export const METHODS: readonly Method[] = ['baseline', 'evolq'];
export const SEARCH_SPACES: readonly SearchSpace[] = ['attention', 'block', 'block+activations'];
export const MUTATIONS: readonly Mutation[] = ['absolute', 'relative', 'joint', 'point'];
export const SEARCH_STARTS: readonly SearchStart[] = ['baseline', 'corrected', 'fitted', 'auto'];

export function oneOf<T>(value: unknown, allowed: readonly T[], option: string): T {
  if (!allowed.includes(value as T)) {
    throw new ConfigError(`Unsupported ${option}: "${value}". Should be one of: ${allowed.join(', ')}.`, option);
  }
  return value as T;
}

// Plain decimal only: Number() would also take '0x8', '1e2' and '' as numbers.
const INTEGER_TEXT = /^\s*[+-]?\d+\s*$/;
const NUMBER_TEXT = /^\s*[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?\s*$/i;

/** A string written as a decimal integer becomes that number; anything else is returned as it is. */
const integerText = (value: unknown) => (typeof value === 'string' && INTEGER_TEXT.test(value) ? Number(value) : value);

export function integer(value: unknown, option: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = integerText(value);
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(`${option} must be an integer ${max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in ${min}..${max}`}, got "${value}"`, option);
  }
  return n;
}

const MAC_UNITS: Record<string, number> = { '': 1, k: 1e3, m: 1e6, g: 1e9, t: 1e12, p: 1e15 };

/** A count of multiply-accumulates: 100T, 2.5e13, 500G; 0 or `none` for no limit. */
export function parseMacs(value: unknown, option: string): number {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value;
  if (typeof value === 'string' && /^\s*(0|none)\s*$/i.test(value)) return 0;
  const match = typeof value === 'string' ? /^\s*(\d+(?:\.\d+)?(?:e\d+)?)\s*([kmgtp]?)\s*$/i.exec(value) : null;
  if (!match) throw new ConfigError(`${option} must be a count of multiply-accumulates such as 100T, 500G or 2e14 (0 or none: no limit), got "${value}"`, option);
  return Number(match[1]) * MAC_UNITS[match[2].toLowerCase()];
}

/** A string written as a plain decimal (or exponent) number becomes that number; anything else is returned as it is. */
const numberText = (value: unknown) => (typeof value === 'string' && NUMBER_TEXT.test(value) ? Number(value) : value);

export function nonNegativeNumber(value: unknown, option: string): number {
  const n = numberText(value);
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) throw new ConfigError(`${option} must be a number >= 0, got "${value}"`, option);
  return n;
}

export function positiveNumber(value: unknown, option: string): number {
  const n = numberText(value);
  if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0) throw new ConfigError(`${option} must be a positive number, got "${value}"`, option);
  return n;
}

/** Fills defaults and checks every field; throws ConfigError naming the CLI flag. */
export function resolveOptions(partial: Partial<Record<keyof QuantizeOptions, unknown>>): QuantizeOptions {
  const given = Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined));
  const preset = oneOf(given.preset ?? DEFAULTS.preset, PRESET_NAMES, '--preset');
  const o = { ...DEFAULTS, ...PRESETS[preset], ...given } as Record<keyof QuantizeOptions, unknown>;
  const aBits = oneOf(integerText(o.aBits), [8, 4] as const, '--a-bits');
  if (given.searchSpace === undefined && PRESETS[preset].searchSpace === undefined && aBits < 8) o.searchSpace = LOW_ACTIVATION_SEARCH_SPACE;
  if (given.mutation === undefined && PRESETS[preset].mutation === undefined && aBits < 8) o.mutation = LOW_ACTIVATION_MUTATION;
  if (given.outputCorrection === undefined && PRESETS[preset].outputCorrection === undefined && aBits < 8) o.outputCorrection = LOW_ACTIVATION_OUTPUT_CORRECTION;
  const resolved: QuantizeOptions = {
    method: oneOf(o.method, METHODS, '--method'),
    wBits: oneOf(integerText(o.wBits), [8, 4, 3] as const, '--w-bits'),
    aBits,
    calibSize: integer(o.calibSize, '--calib-size', 1),
    holdout: integer(o.holdout, '--holdout', 0),
    evalLimit: o.evalLimit === undefined ? undefined : integer(o.evalLimit, '--eval-limit', 1),
    seed: integer(o.seed, '--seed', 0, 2 ** 32 - 1),
    passes: integer(o.passes, '--passes', 1),
    patience: integer(o.patience, '--patience', 0),
    race: nonNegativeNumber(o.race, '--race'),
    searchBudget: parseMacs(o.searchBudget, '--search-budget'),
    cycles: integer(o.cycles, '--cycles', 1),
    population: integer(o.population, '--population', 2),
    loss: oneOf(o.loss, LOSSES, '--loss'),
    temperature: positiveNumber(o.temperature, '--temperature'),
    observer: oneOf(o.observer, OBSERVERS, '--observer'),
    ptf: Boolean(o.ptf),
    lis: Boolean(o.lis),
    biasCorrection: Boolean(o.biasCorrection),
    searchSpace: oneOf(o.searchSpace, SEARCH_SPACES, '--search-space'),
    mutation: oneOf(o.mutation, MUTATIONS, '--mutation'),
    start: oneOf(o.start, SEARCH_STARTS, '--start'),
    select: oneOf(o.select, SELECTIONS, '--select'),
    resume: Boolean(o.resume),
    batchSize: integer(o.batchSize, '--batch-size', 1),
    skipBadImages: Boolean(o.skipBadImages),
    exportFormat: oneOf(o.exportFormat, EXPORT_FORMAT_NAMES, '--export-format'),
    memoryBudget: parseMemoryBudget(o.memoryBudget),
    preset,
    extraPoints: Boolean(o.extraPoints),
    sharedQkv: Boolean(o.sharedQkv),
    intLayerNorm: Boolean(o.intLayerNorm),
    weightCorrection: Boolean(o.weightCorrection),
    outputCorrection: Boolean(o.outputCorrection),
  };
  const formatBits: readonly number[] = EXPORT_FORMATS[resolved.exportFormat].wBits;
  if (!formatBits.includes(resolved.wBits)) {
    throw new ConfigError(`--export-format ${resolved.exportFormat} stores ${formatBits.join(' or ')}-bit weights, not ${resolved.wBits}: give --w-bits ${formatBits.join(' or ')} or another --export-format`, '--export-format');
  }
  if (resolved.weightCorrection && resolved.exportFormat === 'blocked') {
    throw new ConfigError('--weight-correction (part of --preset paper) rescales whole output channels and is not written for --export-format blocked: give another --export-format', '--weight-correction');
  }
  if (resolved.start === 'fitted' && !resolved.ptf) {
    throw new ConfigError('--start fitted refits the PTF of the LayerNorm inputs, and --no-ptf turns PTF off: drop one of them', '--start');
  }
  return resolved;
}
