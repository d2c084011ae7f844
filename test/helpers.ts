// Shared test fixtures: paths to the bundled default and the fixture models, a tiny-model builder, seeded tensors.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { onnx, floatTensor, floatValueInfo, encodeModel, type ModelProto } from '../src/onnx/proto.js';
import { Graph, makeAttribute } from '../src/onnx/graph.js';
import { defaultRunner, type FloatTensor } from '../src/runtime/runner.js';
import { Rng } from '../src/rng.js';

/** The repository root (tests run compiled from dist/test). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const ASSETS = join(ROOT, 'assets');
export const DEFAULT_MODEL = join(ASSETS, 'vit-cifar10');
export const BIN = join(ROOT, 'bin/evolq.js');
/** Small model folders written by test/fixtures/make-fixtures.py; read from the source tree, not dist/. */
export const FIXTURES = join(ROOT, 'test/fixtures/models');

const tempDirs: string[] = [];
// Each test file runs in its own process: its temporary folders go when it exits, pass or fail.
process.on('exit', () => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/** A new empty folder under the system's temporary folder, removed when the test process exits. */
export function tempDir(prefix = 'evolq-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

export interface TinyNode {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs?: Record<string, number | number[]>;
  floatAttrs?: Record<string, number>;
}

/** A model from a node list; `inits` are float initializers. */
export function buildModel(spec: {
  inputs: { name: string; shape: (number | string)[] }[];
  outputs: string[];
  nodes: TinyNode[];
  inits?: { name: string; dims: number[]; values: Float32Array }[];
  opset?: number;
}): ModelProto {
  return onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: spec.opset ?? 17 }],
    producerName: 'evolq-test',
    graph: {
      name: 'tiny',
      node: spec.nodes.map((n, i) => ({
        name: `${n.op}_${i}`,
        opType: n.op,
        input: n.inputs,
        output: n.outputs,
        attribute: [
          ...Object.entries(n.attrs ?? {}).map(([k, v]) => makeAttribute(k, v)),
          ...Object.entries(n.floatAttrs ?? {}).map(([k, v]) => makeAttribute(k, v, 'float')),
        ],
      })),
      initializer: (spec.inits ?? []).map((t) => floatTensor(t.name, t.dims, t.values)),
      input: spec.inputs.map((i) => floatValueInfo(i.name, i.shape)),
      output: spec.outputs.map((o) => floatValueInfo(o)),
    },
  });
}

export const bytesOf = (model: ModelProto) => encodeModel(model).model;

export function randomTensor(rng: Rng, n: number, scale = 1, offset = 0): Float32Array {
  return Float32Array.from({ length: n }, () => (rng.next() * 2 - 1) * scale + offset);
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Runs a model once on the default runner and releases its session. */
export async function runModel(
  model: Graph | Uint8Array,
  feeds: Record<string, FloatTensor>,
  optimization: 'disabled' | 'all' = 'all',
): Promise<Record<string, FloatTensor>> {
  const session = await defaultRunner.createSession(model instanceof Graph ? model.toBytes() : model, { optimization });
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}
