// The runtimes bench/exactness.ts compares: onnxruntime-node on this CPU, onnxruntime-web's wasm backend in Node, and
// onnxruntime-node under qemu's AVX2-only CPU (bench/logits-child.ts, one child at a time, reading a feed file).
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ortWeb from 'onnxruntime-web';
import { defaultRunner, type FloatTensor } from '../src/runtime/runner.js';

export const QEMU = 'qemu-x86_64';
/** qemu's AMD EPYC Rome model: AVX2, no AVX-512, no VNNI, so onnxruntime takes its saturating u8s8 kernels. */
export const QEMU_CPU = 'EPYC-Rome';
const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'logits-child.js');

/** Runs a model on a chunk of images and returns its first output. */
export interface LogitsSession {
  run(images: FloatTensor): Promise<Float32Array>;
  release(): Promise<void>;
}

export async function nodeSession(file: string): Promise<LogitsSession> {
  const session = await defaultRunner.createSession(file);
  const [input, output] = [session.inputNames[0], session.outputNames[0]];
  return {
    run: async (images) => (await session.run({ [input]: images }, [output]))[output].data,
    release: () => session.release(),
  };
}

// In Node, onnxruntime-web's node build (dist/ort.node.min.mjs) loads its .wasm from its own folder and reads a model
// path with fs; it runs on one thread there.
export async function webSession(file: string): Promise<LogitsSession> {
  const session = await ortWeb.InferenceSession.create(file, {
    executionProviders: ['wasm'],
    graphOptimizationLevel: 'all',
  });
  const [input, output] = [session.inputNames[0], session.outputNames[0]];
  return {
    run: async (images) => {
      const feed = new ortWeb.Tensor('float32', images.data, images.dims as number[]);
      const result = await session.run({ [input]: feed }, [output]);
      return Float32Array.from(result[output].data as Float32Array);
    },
    release: () => session.release(),
  };
}

export function qemuVersion(): string | undefined {
  const result = spawnSync(QEMU, ['--version'], { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.split('\n')[0].trim() : undefined;
}

export function runtimeVersions() {
  const nodePackage = createRequire(import.meta.url).resolve('onnxruntime-node/package.json');
  return {
    'onnxruntime-node': (JSON.parse(readFileSync(nodePackage, 'utf8')) as { version: string }).version,
    'onnxruntime-web': ortWeb.env.versions.web ?? 'unknown',
    wasmThreads: ortWeb.env.wasm.numThreads ?? 'default',
    qemu: qemuVersion() ?? 'not installed',
    node: process.version,
  };
}

/**
 * The logits of `model` on the raw float32 images of `feed` ([C, H, W] each), computed by onnxruntime-node under
 * qemu's AVX2-only CPU and written to `out`; `onProgress` sees the child's `done/total` lines. Its stderr (qemu's
 * many "TCG doesn't support" warnings) is discarded.
 */
export function qemuLogits(
  model: string,
  feed: string,
  out: string,
  imageDims: readonly number[],
  onProgress: (line: string) => void,
): Promise<Float32Array> {
  const args = ['-cpu', QEMU_CPU, process.execPath, CHILD, model, feed, out, imageDims.join(',')];
  const child = spawn(QEMU, args, { stdio: ['ignore', 'pipe', 'ignore'] });
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (text: string) => {
    for (const line of text.split('\n')) if (line.trim()) onProgress(line.trim());
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code !== 0) return reject(new Error(`${QEMU} ${args.join(' ')}: exit ${code ?? signal}`));
      const bytes = readFileSync(out);
      resolve(new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)));
    });
  });
}
