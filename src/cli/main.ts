// The evolq command line: a thin shell over the library API.
import { ConfigError, EvolqError, fromSystemError } from '../errors.js';
import { abortOpenOutputs } from '../export/outdir.js';
import { CHECKPOINT_FILE } from '../search/checkpoint.js';
import { parse, required, sizeFlag, listFlag, type Flags, type Parsed } from './args.js';
import { formatEval, formatInspect, formatLandscape, formatQuantize } from './format.js';
import { inspectModel } from '../pipeline/inspect.js';
import { evaluateModel } from '../pipeline/evaluate-model.js';
import { quantize } from '../pipeline/quantize.js';
import { serveDemo } from '../web/serve.js';
import { landscape } from '../pipeline/landscape.js';
import { oneOf, integer, positiveNumber, resolveOptions, SEARCH_SPACES, METHODS, MUTATIONS, SEARCH_STARTS, PRESET_NAMES, DEFAULTS, LOW_ACTIVATION_SEARCH_SPACE } from '../config.js';
import { OBSERVERS } from '../calibrate/observers.js';
import { LOSSES } from '../fitness/losses.js';
import { SELECTIONS } from '../search/selection.js';
import { EXPORT_FORMAT_NAMES } from '../export/formats.js';
import { StderrProgress, silentProgress } from '../progress.js';
import { executionProviders } from '../runtime/runner.js';
import { DEFAULT_MEMORY_BUDGET, formatBytes } from '../memory.js';

const USAGE = `evolq: post-training quantization of vision models (ONNX) with Evol-Q

usage:
  evolq inspect MODEL [--search-space ${SEARCH_SPACES.join('|')} (default ${DEFAULTS.searchSpace})] [--preset ${PRESET_NAMES.join('|')}]
      [--extra-points] [--shared-qkv] [--int-layernorm] [--model-file NAME] [--json]
  evolq eval MODEL --data DIR [--limit N] [--batch-size N] [--model-file NAME] [--size HxW --mean a,b,c --std a,b,c]
      [--device cpu] [--threads N] [--json]
  evolq quantize MODEL --calib DIR --out DIR [--preset ${PRESET_NAMES.join('|')}] [--method ${METHODS.join('|')}] [--w-bits 8|4|3] [--a-bits 8|4]
      [--calib-size 1000] [--holdout 200] [--eval DIR] [--eval-limit N] [--seed 0]
      [--observer ${OBSERVERS.join('|')}] [--no-ptf] [--lis] [--bias-correction] [--batch-size 100]
      [--extra-points] [--shared-qkv] [--int-layernorm] [--weight-correction]
      [--passes 10] [--patience 0] [--race 2] [--search-budget 100T] [--cycles 3] [--population 15] [--loss ${LOSSES.join('|')}] [--temperature 3]
      [--search-space ${SEARCH_SPACES.join('|')} (default ${DEFAULTS.searchSpace}; ${LOW_ACTIVATION_SEARCH_SPACE} at --a-bits 4)]
      [--mutation ${MUTATIONS.join('|')}] [--select ${SELECTIONS.join('|')}] [--start ${SEARCH_STARTS.join('|')}] [--[no-]output-correction] [--resume]
      [--skip-bad-images] [--export-format ${EXPORT_FORMAT_NAMES.join('|')}] [--memory-budget SIZE] [--model-file NAME] [--size HxW --mean a,b,c --std a,b,c]
      [--device cpu] [--threads N] [--json] [--quiet]
  evolq landscape MODEL --calib DIR --out DIR [--unit N] [--points 41] [--radius 0.1] [--grid 21]
      [--eval DIR] [--eval-limit 500] [--calib-size 500] [--w-bits 8|4|3] [--a-bits 8|4] [--search-space attention]
      [--seed 0] [--batch-size 100] [--model-file NAME] [--size HxW --mean a,b,c --std a,b,c]
      [--device cpu] [--threads N] [--json] [--quiet]
  evolq serve OUT [--images DIR] [--count 20] [--port 8080]

MODEL is a folder with model.onnx (or onnx/model.onnx, or --model-file NAME in onnx/) and preprocessor_config.json
(and config.json with id2label),
or a .onnx file (its folder's configs are used; without them give --mean, --std and, for a dynamic
input size, --size). --device names an execution provider of the installed onnxruntime-node (${executionProviders().map((p) => p.name + (p.usable ? '' : ' (not installed)')).join(', ')}).
--memory-budget (e.g. 3G, 512M; default ${formatBytes(DEFAULT_MEMORY_BUDGET)}, a quarter of this machine's memory at most) bounds the
tensors evolq holds: calibration fetches intermediate tensors in chunks that fit it, and the search's cached
unit inputs beyond it go to files in OUT's staging folder (report.json: memory).
--preset paper is the Evol-Q authors' recipe: --extra-points (also quantize attention logits, residual branches,
patch embedding, class-token concat, position embedding, logits) --shared-qkv (one scale for Q, K, V) --int-layernorm
(FQ-ViT's integer LayerNorm) --weight-correction (per output channel, the dequantized weight gets the float weight's
mean and std in every forward), and its search (--loss infonce --mutation absolute --select loss); --preset default
is evolq's own. Explicit options override the preset.
--start auto takes the start (baseline, corrected, or at 4-bit activations fitted) with the lowest calibration
fitness; the kept result is the baseline, that start unsearched, or a pass, whichever has the lowest holdout
measure among those that beat the baseline's above the holdout's noise (--select loss: the lowest holdout loss).
--output-correction (default at --a-bits 4) moves each layer's mean output on the search's start onto the float
model's, per channel (where a MatMul writes [batch, tokens, channels], its first token apart), layer by layer on
the first 256 calibration images, into the layer's bias; kept only if it lowers the calibration fitness
(report.json: search.start.outputCorrection).
--race Z races each search candidate against the population member it would replace on the calibration images,
batch by batch, and stops it once its mean per-image loss is above that member's by Z standard errors (after 100
images at least; 0 evaluates every candidate on every image); report.json's search.forwards.suffixEquivalent
counts what ran.
--search-budget (multiply-accumulates, e.g. 100T, 2e14; 0 or none: no limit) bounds the search's work: the model's
MACs per image (MatMul, Gemm, Conv, counted once from the float model) times the images each forward and suffix
runs. No pass starts that the last pass's cost would take over it (the first always runs), so a 224 px model
gets fewer passes than a 32 px one, on every machine alike (report.json: search.macs).
--json prints one JSON object on stdout; progress goes to stderr.`;

const common: Flags = { json: { type: 'boolean' }, quiet: { type: 'boolean', short: 'q' } };

/** --model-file picks the .onnx of a model folder; --size, --mean and --std preprocess for a bare .onnx without configs. */
const MODEL_FLAGS = ['model-file', 'size', 'mean', 'std'];

/** The quantization recipe's switches (each also set by --preset paper). */
const RECIPE_FLAGS = ['extra-points', 'shared-qkv', 'int-layernorm', 'weight-correction'];

/** Recipe flags that are set, as options; those left out stay undefined so the preset's values apply. */
const recipeFlags = (values: Parsed['values']) => ({
  extraPoints: values['extra-points'] ? true : undefined, sharedQkv: values['shared-qkv'] ? true : undefined,
  intLayerNorm: values['int-layernorm'] ? true : undefined, weightCorrection: values['weight-correction'] ? true : undefined,
});

/** --device and --threads: where onnxruntime-node runs the models. */
const RUNTIME_FLAGS = ['device', 'threads'];
const runtimeFlags = (values: Parsed['values']) => ({
  device: values.device as string | undefined, threads: values.threads === undefined ? undefined : integer(values.threads, '--threads', 1, 1024),
});
const modelFlags = (values: Parsed['values']) => ({
  modelFile: values['model-file'] as string | undefined, size: sizeFlag(values.size), mean: listFlag(values.mean, '--mean'), std: listFlag(values.std, '--std'),
});

async function inspectCommand(args: string[]): Promise<string> {
  const flags: Flags = { ...common, 'search-space': { type: 'string' }, 'model-file': { type: 'string' }, preset: { type: 'string' } };
  for (const f of RECIPE_FLAGS) flags[f] = { type: 'boolean' };
  const { positionals, values } = parse(args, flags, ['MODEL']);
  if (values.help) return USAGE;
  const recipe = resolveOptions({ preset: values.preset, ...recipeFlags(values) });
  const space = oneOf(values['search-space'] ?? recipe.searchSpace, SEARCH_SPACES, '--search-space');
  const report = inspectModel(positionals[0], space, { modelFile: values['model-file'] as string | undefined },
    { extraPoints: recipe.extraPoints, sharedQkv: recipe.sharedQkv, layerNormOutputs: recipe.intLayerNorm });
  return values.json ? JSON.stringify(report) : formatInspect(report);
}

async function evalCommand(args: string[]): Promise<string> {
  const flags: Flags = {
    ...common, data: { type: 'string' }, limit: { type: 'string' }, 'batch-size': { type: 'string' },
    ...Object.fromEntries([...MODEL_FLAGS, ...RUNTIME_FLAGS].map((f) => [f, { type: 'string' as const }])),
  };
  const { positionals, values } = parse(args, flags, ['MODEL']);
  if (values.help) return USAGE;
  const accuracy = await evaluateModel(positionals[0], {
    data: required(values, 'data'),
    limit: values.limit === undefined ? undefined : integer(values.limit, '--limit', 1),
    batchSize: integer(values['batch-size'] ?? '100', '--batch-size', 1),
    ...modelFlags(values),
    runtime: runtimeFlags(values),
    progress: values.quiet ? silentProgress : new StderrProgress(),
  });
  return values.json ? JSON.stringify({ top1: accuracy.top1, top5: accuracy.top5, n: accuracy.n, seconds: accuracy.seconds }) : formatEval(accuracy);
}

async function quantizeCommand(args: string[]): Promise<string> {
  const text = (name: string) => ({ [name]: { type: 'string' as const } });
  const flags: Flags = {
    ...common,
    ...['calib', 'out', 'eval', 'method', 'w-bits', 'a-bits', 'calib-size', 'holdout', 'eval-limit', 'seed', 'passes', 'cycles',
      'population', 'patience', 'race', 'search-budget', 'loss', 'temperature', 'observer', 'search-space', 'mutation', 'select', 'start', 'batch-size', 'export-format', 'memory-budget', 'preset', ...MODEL_FLAGS, ...RUNTIME_FLAGS].reduce((f, n) => ({ ...f, ...text(n) }), {}),
    'no-ptf': { type: 'boolean' }, lis: { type: 'boolean' }, 'bias-correction': { type: 'boolean' }, resume: { type: 'boolean' },
    'output-correction': { type: 'boolean' }, 'no-output-correction': { type: 'boolean' },
    'skip-bad-images': { type: 'boolean' },
    ...Object.fromEntries(RECIPE_FLAGS.map((f) => [f, { type: 'boolean' as const }])),
  };
  const { positionals, values } = parse(args, flags, ['MODEL']);
  if (values.help) return USAGE;
  const out = required(values, 'out');
  if (values['output-correction'] && values['no-output-correction']) throw new ConfigError('give --output-correction or --no-output-correction, not both', '--output-correction');
  const report = await quantize({
    model: positionals[0],
    calib: required(values, 'calib'),
    out,
    eval: values.eval as string | undefined,
    options: {
      method: values.method as never, wBits: values['w-bits'] as never, aBits: values['a-bits'] as never,
      calibSize: values['calib-size'] as never, holdout: values.holdout as never, evalLimit: values['eval-limit'] as never,
      seed: values.seed as never, passes: values.passes as never, cycles: values.cycles as never, population: values.population as never,
      patience: values.patience as never, race: values.race as never, searchBudget: values['search-budget'] as never, loss: values.loss as never, temperature: values.temperature as never, observer: values.observer as never,
      searchSpace: values['search-space'] as never, mutation: values.mutation as never, select: values.select as never, start: values.start as never, batchSize: values['batch-size'] as never,
      // Flags left out stay undefined, so the preset's values apply.
      ptf: values['no-ptf'] ? false : undefined, lis: values.lis ? true : undefined, biasCorrection: values['bias-correction'] ? true : undefined,
      resume: Boolean(values.resume), skipBadImages: Boolean(values['skip-bad-images']), exportFormat: values['export-format'] as never,
      memoryBudget: values['memory-budget'] as never, preset: values.preset as never, ...recipeFlags(values),
      outputCorrection: values['output-correction'] ? true : values['no-output-correction'] ? false : undefined,
    },
    modelOptions: modelFlags(values),
    runtime: runtimeFlags(values),
    progress: values.quiet ? silentProgress : new StderrProgress(),
  });
  return values.json ? JSON.stringify(report) : formatQuantize(report, out);
}

async function landscapeCommand(args: string[]): Promise<string> {
  const text = (name: string) => ({ [name]: { type: 'string' as const } });
  const flags: Flags = {
    ...common,
    ...['calib', 'out', 'eval', 'unit', 'points', 'radius', 'grid', 'eval-limit', 'calib-size', 'w-bits', 'a-bits', 'search-space', 'seed',
      'batch-size', 'observer', 'temperature', ...MODEL_FLAGS, ...RUNTIME_FLAGS].reduce((f, n) => ({ ...f, ...text(n) }), {}),
    'no-ptf': { type: 'boolean' },
  };
  const { positionals, values } = parse(args, flags, ['MODEL']);
  if (values.help) return USAGE;
  const out = required(values, 'out');
  const optional = (name: string, min: number) => (values[name] === undefined ? undefined : integer(values[name], `--${name}`, min));
  const result = await landscape({
    model: positionals[0], calib: required(values, 'calib'), out, eval: values.eval as string | undefined,
    unit: optional('unit', 0), points: optional('points', 1), grid: optional('grid', 0), evalLimit: optional('eval-limit', 1),
    radius: values.radius === undefined ? undefined : positiveNumber(values.radius, '--radius'),
    options: {
      calibSize: values['calib-size'] as never, wBits: values['w-bits'] as never, aBits: values['a-bits'] as never,
      searchSpace: values['search-space'] as never, seed: values.seed as never, batchSize: values['batch-size'] as never,
      observer: values.observer as never, temperature: values.temperature as never, ptf: !values['no-ptf'],
    },
    modelOptions: modelFlags(values),
    runtime: runtimeFlags(values),
    progress: values.quiet ? silentProgress : new StderrProgress(),
  });
  return values.json ? JSON.stringify(result) : formatLandscape(result, out);
}

/** Serves the browser demo until interrupted: onnxruntime-web classifies images with OUT/model.onnx. */
async function serveCommand(args: string[]): Promise<string> {
  const flags: Flags = { images: { type: 'string' }, count: { type: 'string' }, port: { type: 'string' } };
  const { positionals, values } = parse(args, flags, ['OUT']);
  if (values.help) return USAGE;
  const server = await serveDemo({
    out: positionals[0], images: values.images as string | undefined,
    count: integer(values.count ?? '20', '--count', 1), port: integer(values.port ?? '8080', '--port', 0, 65535),
  });
  for (const skipped of server.skipped) process.stderr.write(`evolq serve: not serving ${skipped.file}: ${skipped.reason}\n`);
  process.stdout.write(`demo: ${server.url} (${server.images.length} images; Ctrl-C to stop)\n`);
  await new Promise<void>((done) => process.once('SIGINT', done));
  await server.close();
  return 'stopped';
}

const COMMANDS: Record<string, (args: string[]) => Promise<string>> = { inspect: inspectCommand, eval: evalCommand, quantize: quantizeCommand, landscape: landscapeCommand, serve: serveCommand };

export async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return command ? 0 : 1;
  }
  const run = COMMANDS[command];
  if (!run) {
    process.stderr.write(`evolq: unknown command "${command}". Should be one of: ${Object.keys(COMMANDS).join(', ')}.\n`);
    return 1;
  }
  const interrupted = (signal: NodeJS.Signals) => {
    const left = abortOpenOutputs(CHECKPOINT_FILE);
    process.stderr.write(`\nevolq ${command}: interrupted by ${signal}${left.length ? `; ${left.join('; ')}` : ''}\n`);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  // serve stops on SIGINT by itself; every other command cleans up its staging folder and lock.
  const signals: NodeJS.Signals[] = command === 'serve' ? ['SIGTERM'] : ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const signal of signals) process.on(signal, interrupted);
  try {
    process.stdout.write(`${await run(args)}\n`);
    return 0;
  } catch (err) {
    const known = err instanceof EvolqError ? err : fromSystemError(err);
    if (known) {
      process.stderr.write(`evolq ${command}: ${known.message.replace(/\s*\n\s*/g, ' ')}\n`);
      return 1;
    }
    process.stderr.write(`evolq ${command}: internal error: ${(err as Error).stack ?? err}\n`);
    return 2;
  } finally {
    for (const signal of signals) process.off(signal, interrupted);
  }
}
