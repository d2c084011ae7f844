// The evolq command line: a thin shell over the library API.
import { ConfigError, EvolqError, fromSystemError } from '../errors.js';
import { ALL_OPTIONS } from '../options/request-table.js';
import { flagName } from '../options/spec.js';
import { abortOpenOutputs } from '../export/outdir.js';
import { CHECKPOINT_FILE } from '../search/checkpoint.js';
import { parseCommand, type CommandLine } from './args.js';
import { formatEval, formatInspect, formatLandscape, formatQuantize } from './format.js';
import { inspectModel } from '../pipeline/inspect.js';
import { evaluateModel } from '../pipeline/evaluate-model.js';
import { quantize } from '../pipeline/quantize.js';
import { serveDemo } from '../web/serve.js';
import { landscape } from '../pipeline/landscape.js';
import { FLAG_NAMING, resolveOptions } from '../options/resolve.js';
import { usage, commandUsage } from '../options/usage.js';
import type { Command } from '../options/spec.js';
import { StderrProgress, silentProgress } from '../progress.js';
import { executionProviders } from '../runtime/runner.js';

const devices = () =>
  executionProviders()
    .map((p) => p.name + (p.usable ? '' : ' (not installed)'))
    .join(', ');

/** The model file, its scored output and task, and preprocessing overrides, as the command line gave them. */
function modelOptions({ request }: CommandLine) {
  const { modelFile, output, task, size, mean, std } = request;
  return { modelFile, output, task, size, mean, std };
}

/** The request fields every model command shares: the model options, runtime, progress. */
function modelRequest(line: CommandLine) {
  const { request } = line;
  return {
    modelOptions: modelOptions(line),
    runtime: { device: request.device, threads: request.threads },
    progress: request.quiet ? silentProgress : new StderrProgress(),
  };
}

async function inspectCommand(line: CommandLine): Promise<string> {
  const recipe = resolveOptions(line.options, 'inspect', FLAG_NAMING);
  const report = inspectModel(line.positionals[0], recipe.searchSpace, modelOptions(line), recipe);
  return line.request.json ? JSON.stringify(report) : formatInspect(report);
}

async function evalCommand(line: CommandLine): Promise<string> {
  const { request } = line;
  const { modelOptions, runtime, progress } = modelRequest(line);
  const accuracy = await evaluateModel(line.positionals[0], {
    data: request.data!,
    limit: request.limit,
    batchSize: resolveOptions(line.options, 'eval', FLAG_NAMING).batchSize,
    ...modelOptions,
    runtime,
    progress,
  });
  for (const warning of accuracy.warnings) progress.log(`warning: ${warning}`);
  return request.json
    ? JSON.stringify({
        task: accuracy.task,
        top1: accuracy.top1,
        top5: accuracy.top5,
        n: accuracy.n,
        seconds: accuracy.seconds,
        warnings: accuracy.warnings,
      })
    : formatEval(accuracy);
}

async function quantizeCommand(line: CommandLine): Promise<string> {
  const { request } = line;
  const report = await quantize({
    model: line.positionals[0],
    calib: request.calib!,
    out: request.out!,
    eval: request.eval,
    // Resolved here so that a bad value is named by its flag; the library names it as a request field.
    options: resolveOptions(line.options, 'quantize', FLAG_NAMING),
    ...modelRequest(line),
  });
  return request.json ? JSON.stringify(report) : formatQuantize(report, request.out!);
}

async function landscapeCommand(line: CommandLine): Promise<string> {
  const { request } = line;
  const result = await landscape({
    model: line.positionals[0],
    calib: request.calib!,
    out: request.out!,
    eval: request.eval,
    unit: request.unit,
    points: request.points,
    radius: request.radius,
    grid: request.grid,
    options: resolveOptions(line.options, 'landscape', FLAG_NAMING),
    ...modelRequest(line),
  });
  return request.json ? JSON.stringify(result) : formatLandscape(result, request.out!);
}

/** Serves the browser demo until interrupted: onnxruntime-web classifies images with OUT/model.onnx. */
async function serveCommand(line: CommandLine): Promise<string> {
  const { request } = line;
  const server = await serveDemo({
    out: line.positionals[0],
    images: request.images,
    count: request.count!,
    port: request.port!,
  });
  for (const skipped of server.skipped)
    process.stderr.write(`evolq serve: not serving ${skipped.file}: ${skipped.reason}\n`);
  process.stdout.write(`demo: ${server.url} (${server.images.length} images; Ctrl-C to stop)\n`);
  await new Promise<void>((done) => process.once('SIGINT', done));
  await server.close();
  return 'stopped';
}

const RUN: Record<Command, (line: CommandLine) => Promise<string>> = {
  inspect: inspectCommand,
  eval: evalCommand,
  quantize: quantizeCommand,
  landscape: landscapeCommand,
  serve: serveCommand,
};

async function runCommand(command: Command, args: string[]): Promise<string> {
  const line = parseCommand(command, args, [command === 'serve' ? 'OUT' : 'MODEL']);
  return line.help ? commandUsage(command) : RUN[command](line);
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${usage(devices())}\n`);
    return command ? 0 : 1;
  }
  if (!(command in RUN)) {
    process.stderr.write(`evolq: unknown command "${command}". Should be one of: ${Object.keys(RUN).join(', ')}.\n`);
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
    process.stdout.write(`${await runCommand(command as Command, args)}\n`);
    return 0;
  } catch (err) {
    const known = err instanceof EvolqError ? err : fromSystemError(err);
    if (known) {
      process.stderr.write(`evolq ${command}: ${inFlagTerms(known).replace(/\s*\n\s*/g, ' ')}\n`);
      return 1;
    }
    process.stderr.write(`evolq ${command}: internal error: ${(err as Error).stack ?? err}\n`);
    return 2;
  } finally {
    for (const signal of signals) process.off(signal, interrupted);
  }
}

/**
 * The library names a request field where a message starts with it (`unit must be …`, `runtime.device cuda: …`,
 * `Unsupported runtime.device: …`); on the command line that field is a flag.
 */
function inFlagTerms(err: EvolqError): string {
  const field = err instanceof ConfigError ? err.option : undefined;
  const name = field?.replace(/^(options|modelOptions|runtime)\./, '');
  if (!field || !name || !(name in ALL_OPTIONS)) return err.message;
  const flag = `--${flagName(name)}`;
  return err.message.replace(
    new RegExp(`^(Unsupported )?${field.replace('.', '\\.')}\\b`),
    (_, unsupported) => `${unsupported ?? ''}${flag}`,
  );
}
