// The worst case for onnxruntime's uint8 × int8 kernels: a Linear layer whose activations sit at the top of their
// range (level 255) and whose weights sit at their extremes over a long dot product, exported as evolq exports it,
// with its outputs computed exactly from the stored integers and as x86 CPUs without VNNI compute them
// (vpmaddubsw: neighbouring products added into 16 bits with saturation). Used by the unit test on any CPU and
// by the e2e test that runs onnxruntime under qemu's AVX2-only CPU.
import { Graph } from '../src/onnx/graph.js';
import { findQuantPoints } from '../src/quant/points.js';
import { calibrate } from '../src/calibrate/calibrate.js';
import { deployableGraph } from '../src/export/deployable.js';
import { weightLevelBits } from '../src/quant/scheme.js';
import { tensorDims, tensorToFloat32 } from '../src/onnx/proto.js';
import { defaultRunner, type FloatTensor } from '../src/runtime/runner.js';
import { buildModel } from './helpers.js';

export const K = 512;
export const N = 4;

/** A [K, N] weight: mostly +0.5 (column 0), mostly −0.5 (1), alternating signs (2), a ramp (3). */
function weight(): Float32Array {
  const w = new Float32Array(K * N);
  for (let k = 0; k < K; k++) {
    w[k * N] = k === 0 ? -0.5 : 0.5;
    w[k * N + 1] = k === 0 ? 0.5 : -0.5;
    w[k * N + 2] = k % 2 ? 0.5 : -0.5;
    w[k * N + 3] = (k / K) * 0.8 - 0.3;
  }
  return w;
}

/** uint8 × int8 dot products as x86 without VNNI adds them: each pair (2i, 2i + 1) saturated to int16. */
export function avx2DotProduct(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let sum = 0;
  for (let k = 0; k < a.length; k += 2) {
    const pair = a[k] * b[k] + (k + 1 < a.length ? a[k + 1] * b[k + 1] : 0);
    sum += Math.max(-32768, Math.min(32767, pair));
  }
  return sum;
}

const exactDotProduct = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let sum = 0;
  for (let k = 0; k < a.length; k++) sum += a[k] * b[k];
  return sum;
};

export interface WorstCase {
  /** The exported layer (MatMulIntegerToFloat). */
  model: Uint8Array;
  /** One image whose activations all quantize to level 255. */
  input: FloatTensor;
  /** The stored int8 weight levels (row-major [K, N]). */
  levels: Int8Array;
  /** Its outputs from exact integer arithmetic, and as the AVX2 kernel computes them. */
  exact: Float64Array;
  avx2: Float64Array;
}

/** The worst-case layer exported with 8-bit weights, on 7-bit levels (`reduceRange`) or on all 256. */
export async function worstCaseLayer(reduceRange: boolean): Promise<WorstCase> {
  const graph = new Graph(
    buildModel({
      inputs: [{ name: 'x', shape: ['N', 1, 1, K] }],
      outputs: ['y'],
      inits: [{ name: 'W', dims: [K, N], values: weight() }],
      nodes: [
        { op: 'Flatten', inputs: ['x'], outputs: ['f'] },
        { op: 'MatMul', inputs: ['f', 'W'], outputs: ['y'] },
      ],
    }),
  );
  // Calibration images spanning [0, 1] give the activation the range [0, 1]: x = 1 is level 255.
  const images = {
    data: Float32Array.from({ length: 2 * K }, (_, i) => (i < K ? 0 : 1)),
    dims: [2, 1, 1, K] as [number, number, number, number],
    labels: new Int32Array(2),
  };
  const points = findQuantPoints(graph);
  const table = await calibrate(defaultRunner, graph, 'x', points, images, {
    wBits: weightLevelBits(8, reduceRange),
    aBits: 8,
    observer: 'minmax',
    ptf: false,
    lis: false,
    biasCorrection: false,
    batchSize: 2,
  });
  const exported = deployableGraph(graph, points, table.params).graph;
  const kernel = exported.nodes.find((n) => n.opType === 'MatMulIntegerToFloat');
  if (!kernel) throw new Error('the worst-case layer did not export as MatMulIntegerToFloat');
  const tensor = (name: string) => exported.initializers.get(name)!;
  const int8 = (name: string) => new Int8Array(tensor(name).rawData!.slice().buffer);
  const uint8 = (name: string) => tensor(name).rawData![0];
  const levels = int8(kernel.inputs[1]);
  if (tensorDims(tensor(kernel.inputs[1])).join() !== `${K},${N}`) throw new Error('unexpected weight layout');
  const [aScale, wScales, aZero, wZeros] = [
    tensorToFloat32(tensor(kernel.inputs[2]))[0],
    tensorToFloat32(tensor(kernel.inputs[3])),
    uint8(kernel.inputs[4]),
    int8(kernel.inputs[5]),
  ];
  const a = new Uint8Array(K).fill(255);
  const exact = new Float64Array(N);
  const avx2 = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    const b = Int8Array.from({ length: K }, (_, k) => levels[k * N + n]);
    const bZero = wZeros[wZeros.length === 1 ? 0 : n];
    const sumB = exactDotProduct(b, new Uint8Array(K).fill(1));
    // (a − za)(b − zb) summed: the kernel sums a · b (saturating or not) and corrects for the zero points after.
    const corrections = -aZero * sumB - bZero * 255 * K + K * aZero * bZero;
    const scale = aScale * wScales[wScales.length === 1 ? 0 : n];
    exact[n] = scale * (exactDotProduct(a, b) + corrections);
    avx2[n] = scale * (avx2DotProduct(a, b) + corrections);
  }
  return {
    model: exported.toBytes(),
    input: { data: new Float32Array(K).fill(1), dims: [1, 1, 1, K] },
    levels,
    exact,
    avx2,
  };
}

/** Whether onnxruntime's outputs are these, up to the float rounding of the final scale multiply. */
export function matches(got: ArrayLike<number>, want: Float64Array): boolean {
  for (let i = 0; i < want.length; i++)
    if (Math.abs(got[i] - want[i]) > 1e-5 * Math.max(1, Math.abs(want[i]))) return false;
  return true;
}
