// `npm run bench:nbits -- [--runs 40]`: is there a weight width below 4 bits that onnxruntime-node runs fast on this
// CPU (issue 34's "lower rung")? One ViT-S/16 MLP layer at batch 1 (197 tokens, 384 → 1536) and the same at batch 8,
// as a float MatMul and as com.microsoft MatMulNBits with 8, 4 and 2-bit weights (blocks of 32 input rows, default
// zero points), each timed alternately in one process, and checked against the float product of its dequantized
// weights. Writes bench/results/nbits-speed.json and .md.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { onnx, floatTensor, floatValueInfo, DataType, type NodeProto, type TensorProto } from '../src/onnx/proto.js';
import { makeAttribute } from '../src/onnx/graph.js';
import { defaultRunner, type Session } from '../src/runtime/runner.js';
import { cpuReport } from '../src/runtime/cpu.js';
import { Rng } from '../src/rng.js';
import { ROOT } from '../test/helpers.js';

const { values: args } = parseArgs({ options: { runs: { type: 'string', default: '40' } } });
const RUNS = Number(args.runs);
const [K, N, BLOCK] = [384, 1536, 32];
const rng = new Rng(1);
const weight = Float32Array.from({ length: K * N }, () => (rng.next() * 2 - 1) * 0.05);

/** MatMulNBits's B, scales and the dequantized [K, N] weight, at `bits` with the default zero point 2^(bits−1). */
function quantized(bits: number) {
  const blocks = K / BLOCK;
  const perByte = 8 / bits;
  const levels = 2 ** bits;
  const zero = levels / 2;
  const packed = new Uint8Array(N * blocks * (BLOCK / perByte));
  const scales = new Float32Array(N * blocks);
  const dequantized = new Float32Array(K * N);
  for (let n = 0; n < N; n++)
    for (let b = 0; b < blocks; b++) {
      let max = 0;
      for (let j = 0; j < BLOCK; j++) max = Math.max(max, Math.abs(weight[(b * BLOCK + j) * N + n]));
      const scale = max / Math.max(1, zero - 1) || 1;
      scales[n * blocks + b] = scale;
      for (let j = 0; j < BLOCK; j++) {
        const k = b * BLOCK + j;
        const level = Math.min(levels - 1, Math.max(0, Math.round(weight[k * N + n] / scale) + zero));
        dequantized[k * N + n] = (level - zero) * scale;
        const at = (n * blocks + b) * (BLOCK / perByte) + Math.floor(j / perByte);
        packed[at] |= level << ((j % perByte) * bits);
      }
    }
  return { packed, scales, dequantized, blocks };
}

function model(nodes: NodeProto[], initializers: TensorProto[], microsoft: boolean): Uint8Array {
  const graph = onnx.GraphProto.create({
    name: 'layer',
    node: nodes,
    initializer: initializers,
    input: [floatValueInfo('x', ['batch', 197, K])],
    output: [floatValueInfo('y', ['batch', 197, N])],
  });
  const opsetImport = [{ domain: '', version: 21 }, ...(microsoft ? [{ domain: 'com.microsoft', version: 1 }] : [])];
  return onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 10, opsetImport, graph })).finish();
}

const floatModel = (w: Float32Array) =>
  model(
    [onnx.NodeProto.create({ opType: 'MatMul', input: ['x', 'w'], output: ['y'], name: 'mm' })],
    [floatTensor('w', [K, N], w)],
    false,
  );

function nbitsModel(bits: number): { bytes: Uint8Array; dequantized: Float32Array; weightBytes: number } {
  const q = quantized(bits);
  const node = onnx.NodeProto.create({
    opType: 'MatMulNBits',
    domain: 'com.microsoft',
    input: ['x', 'B', 'scales'],
    output: ['y'],
    name: 'mm',
    attribute: [
      makeAttribute('K', K),
      makeAttribute('N', N),
      makeAttribute('bits', bits),
      makeAttribute('block_size', BLOCK),
      makeAttribute('accuracy_level', 0),
    ],
  });
  const B = onnx.TensorProto.create({
    name: 'B',
    dims: [N, q.blocks, (BLOCK * bits) / 8],
    dataType: DataType.UINT8,
    rawData: q.packed,
  });
  const bytes = model([node], [B, floatTensor('scales', [N, q.blocks], q.scales)], true);
  return { bytes, dequantized: q.dequantized, weightBytes: q.packed.length + 4 * q.scales.length };
}

const variants: { name: string; bytes: Uint8Array; reference: Uint8Array; weightBytes: number }[] = [
  { name: 'float MatMul', bytes: floatModel(weight), reference: floatModel(weight), weightBytes: 4 * K * N },
  ...[8, 4, 2].map((bits) => {
    const m = nbitsModel(bits);
    return {
      name: `MatMulNBits ${bits}-bit`,
      bytes: m.bytes,
      reference: floatModel(m.dequantized),
      weightBytes: m.weightBytes,
    };
  }),
];

const rows: { batch: number; kernel: string; ms: number; speedup: number; weightBytes: number; relativeGap: number }[] =
  [];
for (const batch of [1, 8]) {
  const x = { data: Float32Array.from({ length: batch * 197 * K }, () => rng.next() * 2 - 1), dims: [batch, 197, K] };
  const sessions: Session[] = [];
  for (const v of variants) sessions.push(await defaultRunner.createSession(v.bytes, { spinning: false }));
  const gaps: number[] = [];
  for (const [i, v] of variants.entries()) {
    const reference = await defaultRunner.createSession(v.reference);
    const [a, b] = [(await sessions[i].run({ x })).y.data, (await reference.run({ x })).y.data];
    await reference.release();
    let gap = 0;
    let scale = 0;
    for (let j = 0; j < a.length; j++) {
      gap = Math.max(gap, Math.abs(a[j] - b[j]));
      scale = Math.max(scale, Math.abs(b[j]));
    }
    gaps.push(gap / scale);
  }
  const times = variants.map(() => [] as number[]);
  for (let r = 0; r < RUNS; r++)
    for (const [i, s] of sessions.entries()) {
      const start = performance.now();
      await s.run({ x });
      times[i].push(performance.now() - start);
    }
  for (const s of sessions) await s.release();
  const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)];
  const floatMs = median(times[0]);
  variants.forEach((v, i) =>
    rows.push({
      batch,
      kernel: v.name,
      ms: median(times[i]),
      speedup: floatMs / median(times[i]),
      weightBytes: v.weightBytes,
      relativeGap: gaps[i],
    }),
  );
}

const lines = [
  `One ${K} → ${N} layer over 197 tokens; ${RUNS} runs each, alternating, median; CPU ${cpuReport().model}; gap: largest |y − y_ref| / largest |y_ref| against the float product of the same dequantized weights`,
  '',
  '| batch | kernel | weight bytes | ms | speed vs float | gap |',
  '|---|---|---|---|---|---|',
  ...rows.map(
    (r) =>
      `| ${r.batch} | ${r.kernel} | ${r.weightBytes.toLocaleString('en')} | ${r.ms.toFixed(2)} | ${r.speedup.toFixed(2)}× | ${r.relativeGap.toExponential(1)} |`,
  ),
];
const dir = join(ROOT, 'bench/results');
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, 'nbits-speed.json'), `${JSON.stringify({ cpu: cpuReport(), rows }, null, 2)}\n`);
writeFileSync(join(dir, 'nbits-speed.md'), `${lines.join('\n')}\n`);
console.log(lines.join('\n'));
