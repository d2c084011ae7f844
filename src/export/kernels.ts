// Which operators onnxruntime runs a model with after its graph optimizations (its QDQ fusions turn
// DequantizeLinear → MatMul/Conv → QuantizeLinear groups into integer kernels where it can).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readModel, type ModelProto } from '../onnx/proto.js';
import type { Runner } from '../runtime/runner.js';

/** The graph onnxruntime runs after its optimizations, as it writes it out. */
export async function optimizedModel(runner: Runner, model: Uint8Array | string): Promise<ModelProto> {
  const dir = mkdtempSync(join(tmpdir(), 'evolq-kernels-'));
  try {
    const file = join(dir, 'optimized.onnx');
    const session = await runner.createSession(model, { optimizedModelPath: file });
    await session.release();
    return readModel(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Operator counts of an optimized graph, keyed `op` or `domain:op` outside the default domain, most frequent first. */
export function kernelCounts(optimized: ModelProto): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const node of optimized.graph?.node ?? []) {
    const key = node.domain && node.domain !== 'ai.onnx' ? `${node.domain}:${node.opType}` : (node.opType ?? '');
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return Object.fromEntries(Object.entries(counts).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])));
}

/** The operators onnxruntime runs a model with (kernelCounts of its optimized graph). */
export async function chosenKernels(runner: Runner, model: Uint8Array | string): Promise<Record<string, number>> {
  return kernelCounts(await optimizedModel(runner, model));
}

/** The kernels that do a layer's arithmetic (integer QLinear* / *Integer*, or float), as `30 MatMulIntegerToFloat, …`. */
export function layerKernels(kernels: Record<string, number>): string {
  const layer = /MatMul|Conv|Gemm|QLinear|Integer|NBits/;
  return Object.entries(kernels)
    .filter(([op]) => layer.test(op))
    .map(([op, n]) => `${n} ${op.replace(/^com\.microsoft:/, '')}`)
    .join(', ');
}
