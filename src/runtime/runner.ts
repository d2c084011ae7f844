// The one module that imports onnxruntime-node; everything else runs models through the Runner interface.
import * as ort from 'onnxruntime-node';
import { availableParallelism } from 'node:os';
import { ModelError } from '../errors.js';

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
}

export interface Runner {
  /** A session over a serialized model or a model file path. */
  createSession(model: Uint8Array | string, options?: SessionOptions): Promise<Session>;
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
    for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = new ort.Tensor('float32', t.data, t.dims as number[]);
    const results = fetches ? await this.session.run(ortFeeds, [...fetches]) : await this.session.run(ortFeeds);
    const out: Record<string, FloatTensor> = {};
    for (const [name, t] of Object.entries(results)) {
      if (t.type !== 'float32') continue;
      out[name] = { data: t.data as Float32Array, dims: t.dims };
    }
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** The CPU runner over onnxruntime-node. */
export class OrtRunner implements Runner {
  async createSession(model: Uint8Array | string, options: SessionOptions = {}): Promise<Session> {
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      graphOptimizationLevel: options.optimization ?? 'all',
      executionProviders: ['cpu'],
    };
    sessionOptions.intraOpNumThreads = options.threads ?? availableParallelism();
    if (options.optimizedModelPath) {
      sessionOptions.optimizedModelFilePath = options.optimizedModelPath;
      sessionOptions.logSeverityLevel = 3; // its warning that the dump is hardware-specific is expected here
    }
    if (options.profile) sessionOptions.enableProfiling = true;
    try {
      const session = typeof model === 'string'
        ? await ort.InferenceSession.create(model, sessionOptions)
        : await ort.InferenceSession.create(model, sessionOptions);
      return new OrtSession(session);
    } catch (err) {
      const where = typeof model === 'string' ? model : 'in-memory model';
      throw new ModelError(`${where}: onnxruntime could not load it: ${(err as Error).message.split('\n')[0]}`, typeof model === 'string' ? model : undefined);
    }
  }
}

export const defaultRunner: Runner = new OrtRunner();
