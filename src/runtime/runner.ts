// The one module that imports onnxruntime-node; everything else runs models through the Runner interface.
import * as ort from 'onnxruntime-node';
import { availableParallelism } from 'node:os';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ConfigError, ModelError } from '../errors.js';

/** A dense float32 tensor in row-major order. */
export interface FloatTensor {
  data: Float32Array;
  dims: readonly number[];
}

export interface Session {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** Runs the model; `fetches` defaults to every output. */
  run(feeds: Record<string, FloatTensor>, fetches?: readonly string[]): Promise<Record<string, FloatTensor>>;
  release(): Promise<void>;
}

export interface SessionOptions {
  /** Threads for one operator; default: every core (onnxruntime's own default used one of two here). */
  threads?: number;
  /** Graph optimizations; 'all' by default. */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Where onnxruntime writes the model after its optimizations (to see which kernels it chose). */
  optimizedModelPath?: string;
  profile?: boolean;
  /**
   * Whether the operator threads spin between runs (onnxruntime's default, true). Sessions timed against each other
   * turn it off: a session's spinning threads take the cores from the next one's run, and two identical 32 px
   * models then timed up to 6× apart at batch 1 (docs/notes/speed.md).
   */
  spinning?: boolean;
}

export interface Runner {
  /** A session over a serialized model or a model file path. */
  createSession(model: Uint8Array | string, options?: SessionOptions): Promise<Session>;
  /** What it runs on, for report.json. */
  readonly report?: RuntimeReport;
}

/** The given runner, else onnxruntime-node on the requested device (checked now, before any work). */
export function runnerFor(runner: Runner | undefined, runtime: RuntimeOptions | undefined): Runner {
  return runner ?? new OrtRunner(runtime);
}

class OrtSession implements Session {
  constructor(private readonly session: ort.InferenceSession) {}

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  async run(feeds: Record<string, FloatTensor>, fetches?: readonly string[]): Promise<Record<string, FloatTensor>> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds))
      ortFeeds[name] = new ort.Tensor('float32', t.data, t.dims as number[]);
    const results = fetches ? await this.session.run(ortFeeds, [...fetches]) : await this.session.run(ortFeeds);
    const out: Record<string, FloatTensor> = {};
    for (const [name, t] of Object.entries(results)) {
      if (t.type !== 'float32')
        throw new ModelError(`output '${name}' is ${t.type}; evolq reads float32 outputs (fetch only the float ones)`);
      out[name] = { data: t.data as Float32Array, dims: t.dims };
    }
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

export interface RuntimeOptions {
  /** The execution provider: one of what the installed onnxruntime-node offers (`evolq --help` lists them). */
  device?: string;
  /** Threads for one operator; default: every core. */
  threads?: number;
}

/** What a runner runs on, as report.json states it. */
export interface RuntimeReport {
  device: string;
  threads: number;
  onnxruntime: string;
}

// Providers that onnxruntime-node does not bundle come as shared libraries its install script downloads.
const PROVIDER_LIBRARIES: Record<string, string> = {
  cuda: 'libonnxruntime_providers_cuda.so',
  tensorrt: 'libonnxruntime_providers_tensorrt.so',
};

/** The execution providers the installed onnxruntime-node knows, each with whether it can run here. */
export function executionProviders(): { name: string; usable: boolean }[] {
  const binding = dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json'));
  const libraries = join(binding, 'bin', 'napi-v6', process.platform, process.arch);
  return ort.listSupportedBackends().map(({ name, bundled }) => ({
    name,
    usable:
      bundled || (PROVIDER_LIBRARIES[name] !== undefined && existsSync(join(libraries, PROVIDER_LIBRARIES[name]))),
  }));
}

/** Checks `device` against what onnxruntime-node offers here; the error says what is missing and how to get it. */
export function checkDevice(device: string): void {
  const providers = executionProviders();
  const provider = providers.find((p) => p.name === device);
  if (!provider)
    throw new ConfigError(
      `Unsupported runtime.device: "${device}". Should be one of: ${providers.map((p) => p.name).join(', ')}.`,
      'runtime.device',
    );
  if (!provider.usable) {
    throw new ConfigError(
      `runtime.device ${device}: this onnxruntime-node was installed without its ${device} provider (${PROVIDER_LIBRARIES[device] ?? 'a separate library'}); ` +
        `with network access and the GPU's drivers, reinstall it with: npm rebuild onnxruntime-node --onnxruntime-node-install=cuda12 ` +
        `(this project's .npmrc sets onnxruntime-node-install=skip)`,
      'runtime.device',
    );
  }
}

/** The runner over onnxruntime-node, on one execution provider. */
export class OrtRunner implements Runner {
  readonly device: string;
  readonly threads: number;

  constructor(options: RuntimeOptions = {}) {
    this.device = options.device ?? 'cpu';
    if (this.device !== 'cpu') checkDevice(this.device);
    if (options.threads !== undefined && (!Number.isInteger(options.threads) || options.threads < 1)) {
      throw new ConfigError(`runtime.threads must be an integer >= 1, got "${options.threads}"`, 'runtime.threads');
    }
    const cores = availableParallelism();
    // A thousand threads on two cores did not finish 30 images in 30 s (0.1 s with two) and held off SIGTERM.
    if (options.threads !== undefined && options.threads > 4 * cores)
      throw new ConfigError(
        `runtime.threads ${options.threads} is more than 4× this machine's ${cores} cores, which only slows onnxruntime down; give at most ${4 * cores}`,
        'runtime.threads',
      );
    this.threads = options.threads ?? cores;
  }

  get report(): RuntimeReport {
    return {
      device: this.device,
      threads: this.threads,
      onnxruntime: ort.env.versions.node ?? ort.env.versions.common,
    };
  }

  async createSession(model: Uint8Array | string, options: SessionOptions = {}): Promise<Session> {
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      graphOptimizationLevel: options.optimization ?? 'all',
      executionProviders: [this.device],
      // Errors only: its load-time warnings (an old opset, a duplicate initializer) are printed in colour beside
      // evolq's own one-line message and say nothing the error does not.
      logSeverityLevel: 3,
    };
    sessionOptions.intraOpNumThreads = options.threads ?? this.threads;
    if (options.optimizedModelPath) sessionOptions.optimizedModelFilePath = options.optimizedModelPath;
    if (options.profile) sessionOptions.enableProfiling = true;
    if (options.spinning === false) sessionOptions.extra = { session: { intra_op: { allow_spinning: '0' } } };
    try {
      const session =
        typeof model === 'string'
          ? await ort.InferenceSession.create(model, sessionOptions)
          : await ort.InferenceSession.create(model, sessionOptions);
      return new OrtSession(session);
    } catch (err) {
      const first = (err as Error).message.split('\n')[0];
      if (this.device !== 'cpu' && new RegExp(`providers/${this.device}|adapter|provider`, 'i').test(first))
        throw new ConfigError(
          `runtime.device ${this.device}: onnxruntime could not start its ${this.device} provider on this machine (${first.replace(/^.*?(Failed|failed)/, '$1')}); the cpu device runs everywhere`,
          'runtime.device',
        );
      const where = typeof model === 'string' ? model : 'in-memory model';
      throw new ModelError(
        `${where}: onnxruntime could not load it: ${loadErrorReason(first)}`,
        typeof model === 'string' ? model : undefined,
      );
    }
  }
}

/**
 * onnxruntime's load error without what the message around it already says: 'Load model from FILE failed:' and the
 * C++ source location and signature it prefixes to some ('/onnxruntime_src/…/model.cc:202 onnxruntime::Model::Model(…)').
 */
export function loadErrorReason(message: string): string {
  return message
    .replace(/^Load model from .*? failed:\s*/, '')
    .replace(/^\/onnxruntime_src\/\S+:\d+ .*?\) (?=[A-Z])/, '')
    .trim();
}

// onnxruntime's own log, for the process: errors only. Its warnings (a telemetry ID it cannot store in a read-only
// home) came out in colour before evolq's one-line messages.
ort.env.logLevel = 'error';

export const defaultRunner: Runner = new OrtRunner();
