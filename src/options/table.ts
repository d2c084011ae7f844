// Every option of every command, once. QUANTIZE_OPTIONS are the recipe: the library takes them as
// QuantizeOptions (resolve.ts); REQUEST_OPTIONS (request-table.ts) say where things are and how to run (folders, model file,
// runtime, output), and each command's request takes them by the same names.
import { OBSERVERS } from '../calibrate/observers/registry.js';
import { LOSSES } from '../fitness/losses.js';
import { EXPORT_FORMAT_NAMES } from '../export/formats.js';
import { SELECTIONS } from '../search/selection.js';
import { SEARCH_STARTS } from '../search/start.js';
import { MUTATIONS } from '../search/evolution.js';
import { SEARCH_SPACES } from '../quant/units.js';
import { DEFAULT_MEMORY_BUDGET } from '../memory.js';
import * as values from './values.js';
import { FLOAT_WIDTH } from '../quant/scheme.js';
import {
  PRESET_NAMES,
  choice,
  switchOption,
  integerOption,
  optionalInteger,
  valueOption,
  optionalValue,
  type OptionValue,
} from './spec.js';

export const METHODS = ['baseline', 'evolq'] as const;

/** The weight widths a budget may give a layer (2 bits: four levels a byte, per-channel export only). */
export const WIDTHS = [8, 4, 2] as const;

export { FLOAT_WIDTH };

/** Each budget's --w-bit-choices when none are given: what can pay off under it (docs/usage.md, "Per-layer weight widths"). */
export const BUDGET_WIDTHS = {
  sizeBudget: [8, 4, 2],
  accuracyBudget: [FLOAT_WIDTH, 8, 4, 2],
  latencyBudget: [FLOAT_WIDTH, 8],
} as const;

/** 100 T multiply-accumulates (docs/results.md, "Why the defaults are what they are"). */
export const DEFAULT_SEARCH_BUDGET = 100e12;

const RECIPE: readonly ['inspect', 'quantize'] = ['inspect', 'quantize'];
export const RUN: readonly ['quantize', 'landscape'] = ['quantize', 'landscape'];

export const QUANTIZE_OPTIONS = {
  preset: choice(PRESET_NAMES, 'default', {
    commands: RECIPE,
    record: 'always',
    help: "paper: the Evol-Q authors' recipe: --extra-points --shared-qkv --integer-layer-norm --weight-correction, and their search (--loss infonce --mutation absolute --select loss --start baseline --race 0 --search-budget 0); default: evolq's own. Options given explicitly override the preset.",
  }),
  method: choice(METHODS, 'baseline', {
    commands: ['quantize'],
    record: 'always',
    help: 'baseline: the FQ-ViT calibration alone; evolq: then the Evol-Q search over the scales.',
  }),
  wBits: choice([8, 4, 3, 2], 8, {
    commands: RUN,
    record: 'always',
    help: 'Weight bits, one width for every layer (2: --export-format per-channel stores MatMul and Conv weights four to a byte). With --size-budget, --accuracy-budget or --latency-budget, give --w-bit-choices instead.',
  }),
  wBitChoices: valueOption(values.bitChoices(WIDTHS, FLOAT_WIDTH), [...WIDTHS], {
    commands: ['quantize'],
    value: 'BITS',
    shownDefault: '8,4,2 with --size-budget; float,8,4,2 with --accuracy-budget; float,8 with --latency-budget',
    help: 'With a budget: the weight widths each layer may get, separated by commas; float keeps a layer unquantized.',
  }),
  sizeBudget: optionalValue(values.sizeBudget, {
    commands: ['quantize'],
    value: 'SIZE',
    help: "Give each weight a width from --w-bit-choices so that model.onnx stays within this size: a fraction of the float model's file (e.g. 0.2) or a size (e.g. 5MB; K, M, G are 1024-based). Each weight's sensitivity (the fitness's rise when it alone takes a lower width, on 256 calibration images) and its bytes decide, by a knapsack; the search then runs on that assignment, and a uniform width that fits is kept instead if it is better on the holdout (report.json: widths).",
  }),
  accuracyBudget: optionalValue(values.nonNegativeNumber, {
    commands: ['quantize'],
    value: 'POINTS',
    help: "Give each weight a width from --w-bit-choices so that model.onnx is as small as it can be while its top-1 class agrees with float's on all but this many percent of the holdout images (e.g. 1; classifiers only). The knapsack's widths are bisected by size, each try measured on the holdout (report.json: widths.budget.tried).",
  }),
  latencyBudget: optionalValue(values.latencyFraction, {
    commands: ['quantize'],
    value: 'FRACTION',
    help: "Give each weight a width from --w-bit-choices so that model.onnx's latency at batch 1 on this machine stays within this fraction of the float model's (e.g. 0.6): the most sensitive layers stay float where the budget leaves room. Each layer's time comes from timing it alone, float and integer; each assignment's model.onnx is timed against float and solved again while it is over (report.json: widths.budget).",
  }),
  aBits: choice([8, 4], 8, { commands: RUN, record: 'always', help: 'Activation bits.' }),
  calibSize: integerOption(1, 1000, {
    commands: RUN,
    commandDefaults: { landscape: 500 },
    help: 'Calibration images, drawn at random with --seed from --calib.',
  }),
  holdout: integerOption(0, 200, {
    commands: ['quantize'],
    help: 'Images drawn beside the calibration images, disjoint from them: the search keeps the result that is best on them, and without --eval the accuracies are measured on them.',
  }),
  evalLimit: optionalInteger(1, {
    commands: RUN,
    commandDefaults: { landscape: 500 },
    help: 'Evaluate on a class-balanced subset of this many --eval images (the first ⌈N/classes⌉ of each class in file order); landscape: also the holdout images drawn when --eval is not given.',
  }),
  seed: integerOption(
    0,
    0,
    {
      commands: RUN,
      record: 'always',
      help: 'Seeds the image draw and the search: the same seed gives the same result.',
    },
    2 ** 32 - 1,
  ),
  passes: integerOption(1, 10, {
    commands: ['quantize'],
    record: 'search',
    help: 'Search passes over all units, last unit first.',
  }),
  patience: integerOption(0, 0, {
    commands: ['quantize'],
    help: 'Stop the search after this many passes without a new lowest holdout measure (0: never).',
  }),
  race: valueOption(values.nonNegativeNumber, 2, {
    commands: ['quantize'],
    paper: 0,
    value: 'Z',
    help: "Race each search candidate against the population member it would replace, batch by batch, and stop it once its mean per-image loss is above that member's by Z standard errors (after 100 images at least; 0: every candidate sees every calibration image). report.json's search.forwards.suffixEquivalent counts what ran.",
  }),
  searchBudget: valueOption(values.macs, DEFAULT_SEARCH_BUDGET, {
    commands: ['quantize'],
    paper: 0,
    value: 'MACS',
    help: "Multiply-accumulates the search may spend (e.g. 100T, 2e14; 0 or none: no limit): the model's MACs per image (MatMul, Gemm, Conv, counted once from the float model) times the images each forward and suffix runs. No pass starts that the last pass's cost would take over it (the first always runs), so a 224 px model gets fewer passes than a 32 px one, on every machine alike (report.json: search.macs).",
  }),
  cycles: integerOption(1, 3, { commands: ['quantize'], help: 'Mutation rounds per unit and pass.' }),
  population: integerOption(2, 15, { commands: ['quantize'], help: 'Population size per unit.' }),
  loss: choice(['auto', ...LOSSES], 'auto', {
    commands: ['quantize'],
    paper: 'infonce',
    record: 'search',
    help: "The search's fitness between the quantized and float outputs on the calibration images; auto: kl for class logits, infonce for an image encoder's embeddings.",
  }),
  temperature: valueOption(values.positiveNumber, 3, { commands: RUN, value: 'T', help: "infoNCE's temperature." }),
  observer: choice(OBSERVERS, 'omse', {
    commands: RUN,
    paper: 'omse',
    record: 'always',
    help: "How each activation's range is chosen from the calibration images.",
  }),
  ptf: switchOption(true, {
    commands: RUN,
    paper: true,
    record: 'always',
    help: 'Power-of-two factors (FQ-ViT) on LayerNorm inputs; --no-ptf quantizes them per tensor.',
  }),
  lis: switchOption(false, {
    commands: ['quantize'],
    paper: false,
    record: 'always',
    help: 'The log2 quantizer on softmax outputs (4 bits).',
  }),
  biasCorrection: switchOption(false, {
    commands: ['quantize'],
    paper: false,
    record: 'always',
    help: 'Fold the expected output shift of weight quantization into each bias (Nagel et al.).',
  }),
  searchSpace: choice(SEARCH_SPACES, 'attention', {
    commands: ['inspect', ...RUN],
    lowActivation: 'block+activations',
    paper: 'attention',
    commandDefaults: { landscape: 'attention' },
    record: 'search',
    help: "What one search unit perturbs together: an attention's weights, a whole block's, or a block's weights and activations.",
  }),
  mutation: choice(MUTATIONS, 'joint', {
    commands: ['quantize'],
    lowActivation: 'point',
    paper: 'absolute',
    record: 'search',
    help: 'absolute: ±1e-4 (8-bit) or ±1e-3 added to each scale, as the Evol-Q code; relative: ±5% of each scale; joint: one factor per quant point times one per scale; point: one factor per quant point.',
  }),
  start: choice(SEARCH_STARTS, 'auto', {
    commands: ['quantize'],
    paper: 'baseline',
    record: 'search',
    help: "Where the search starts: the baseline; corrected (the data-free weight correction); fitted (that, each LayerNorm input's PTF refitted, and at 4-bit activations the softmax on log√2); auto: whichever has the lowest calibration fitness. The kept result is the baseline, that start unsearched, or a pass, whichever has the lowest holdout measure among those that beat the baseline's above the holdout's noise.",
  }),
  select: choice(['auto', ...SELECTIONS], 'auto', {
    commands: ['quantize'],
    paper: 'loss',
    record: 'search',
    help: "How the kept result is chosen on the holdout images: a per-image measure that is 0 where the quantized output is float's (kl for class logits, cosine: 1 − cosine similarity for embeddings; auto picks by the task), or loss: the lowest holdout fitness loss, as the paper.",
  }),
  outputCorrection: switchOption(false, {
    commands: ['quantize'],
    lowActivation: true,
    paper: false,
    record: 'always',
    help: "Move each layer's mean output on the search's start onto the float model's, per channel (where a MatMul writes [batch, tokens, channels], its first token apart), layer by layer on the first 256 calibration images, into the layer's bias; kept only if it lowers the calibration fitness (report.json: search.start.outputCorrection).",
  }),
  resume: switchOption(false, { commands: ['quantize'], help: "Resume an interrupted search from OUT's checkpoint." }),
  batchSize: integerOption(1, 100, {
    commands: ['eval', ...RUN],
    help: 'Images per onnxruntime run and per fitness batch.',
  }),
  speed: switchOption(true, {
    commands: ['quantize'],
    help: 'Time the float model and model.onnx on this machine, at batch 1 and at --batch-size (report.json: exported.speed).',
  }),
  keepSimulation: switchOption(false, {
    commands: ['quantize'],
    help: "Also write simulation.onnx (the quantized model as evolq simulates it: float operators with the scales baked in, often larger than the float model) and quant.json (every quant point's scales, zero points and corrections): for debugging and comparing runs, not for shipping.",
  }),
  skipBadImages: switchOption(false, {
    commands: ['quantize'],
    help: 'Leave out images that do not decode (listed in report.json) instead of stopping at the first.',
  }),
  convOutputs: switchOption(true, {
    commands: RECIPE,
    paper: false,
    record: 'always',
    help: "Quantize the output of every quantized Conv that no quantizer reads next (ResNet's before the residual Add, MobileNet's before HardSwish), so that onnxruntime runs every Conv as QLinearConv; without, such a Conv runs in float on weights dequantized at every run (measured: docs/notes/speed.md).",
  }),
  floatLayers: valueOption(values.textList, [] as string[], {
    commands: ['inspect', ...RUN],
    record: 'always',
    value: 'NAMES',
    shownDefault: 'none',
    help: 'Layers to keep float, by node name, op type or layer class (DepthwiseConv), separated by commas (e.g. Conv, or /blocks.0/attn/qkv/MatMul): their weights are not quantized and the activations they read reach them unquantized; report.json lists them (exported.floatLayers).',
  }),
  floatFallback: switchOption(true, {
    commands: ['quantize'],
    paper: false,
    record: 'always',
    help: 'Before calibrating, time model.onnx on this CPU with each layer class (MatMul, Gemm, Conv, DepthwiseConv) float in turn, and keep float the classes whose float form makes it at least 5% faster, then measure the rest again beside them (seconds; report.json: floatFallback). The choice follows the machine: to repeat a run elsewhere, pass the layers it kept float with --float-layers and --no-float-fallback.',
  }),
  reduceRange: switchOption(true, {
    commands: RUN,
    paper: false,
    record: 'always',
    help: "8-bit weights on 7-bit levels (int8 −64…63), as onnxruntime's reduce_range: x86 CPUs without VNNI (AVX2, and AVX-512 before VNNI) add uint8 × int8 products in pairs that saturate at 16 bits, and full-range weights then compute another model than the one simulated. --no-reduce-range uses all 256 levels, exact only on CPUs with VNNI or AMX, on ARM and in wasm.",
  }),
  exportFormat: choice(EXPORT_FORMAT_NAMES, 'per-channel', {
    commands: ['quantize'],
    record: 'always',
    help: 'How model.onnx stores its weights.',
  }),
  memoryBudget: valueOption(values.bytes, DEFAULT_MEMORY_BUDGET, {
    commands: ['quantize'],
    value: 'SIZE',
    shownDefault: '2G, at most a quarter of memory',
    help: "Bytes of tensors evolq may hold (e.g. 3G, 512M; default 2 GiB or a quarter of this machine's memory): calibration fetches intermediate tensors in chunks that fit it, and the search's cached unit inputs beyond it go to files in OUT's staging folder (report.json: memory).",
  }),
  extraPoints: switchOption(false, {
    commands: RECIPE,
    paper: true,
    record: 'always',
    help: 'Also quantize attention logits, residual branches, patch embedding, class-token concat, position embedding and logits.',
  }),
  sharedQkv: switchOption(false, {
    commands: RECIPE,
    paper: true,
    record: 'always',
    help: 'Q, K and V share one quantizer, on the tensor they are split from.',
  }),
  integerLayerNorm: switchOption(false, {
    commands: RECIPE,
    paper: true,
    record: 'always',
    help: "FQ-ViT's integer LayerNorm on the PTF-quantized input, rounded to the next quantizer's scale.",
  }),
  weightCorrection: switchOption(false, {
    commands: ['quantize'],
    paper: true,
    record: 'always',
    help: "Data-free: every forward rescales each output channel of the dequantized weight to the float weight's mean and std.",
  }),
} as const;

export type QuantizeOptionName = keyof typeof QUANTIZE_OPTIONS;
export type QuantizeOptions = { -readonly [K in QuantizeOptionName]: OptionValue<(typeof QUANTIZE_OPTIONS)[K]> };
/** Options as a caller gives them: typed values, or text as the command line has it (resolveOptions parses both). */
export type GivenOptions = { [K in QuantizeOptionName]?: QuantizeOptions[K] | string };
