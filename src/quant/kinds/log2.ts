// FQ-ViT's log2 quantizer for softmax outputs (`--lis`), and the log√2 quantizer (two levels per octave): no
// parameters beyond the bit width and the levels per octave. Standard ONNX has no op for it, so the export keeps
// the simulation's float subgraph.
import type { NodeBuilder } from '../../onnx/builder.js';
import type { Log2Params } from '../scheme.js';
import type { QuantizerKind } from './kind.js';

/** q = clamp(round(−steps·log2 x), 0, 2^b − 1), x̂ = 2^(−q/steps), 0 where round(−steps·log2 x) ≥ 2^b (scheme.ts fakeQuantLog2). */
function log2Subgraph(b: NodeBuilder, x: string, bits: number, steps = 1): string {
  const levels = 2 ** bits;
  const exponent = b.node('Round', [b.node('Mul', [b.node('Log', [x]), b.sharedScalar(-steps / Math.LN2)])]);
  const inRange = b.node('Less', [exponent, b.sharedScalar(levels)]);
  const clipped = b.node('Clip', [exponent, b.sharedScalar(0), b.sharedScalar(levels - 1)]);
  const value = b.node('Pow', [
    b.sharedScalar(2),
    b.node('Neg', [steps === 1 ? clipped : b.node('Div', [clipped, b.sharedScalar(steps)])]),
  ]);
  return b.node('Where', [inRange, value, b.sharedScalar(0)]);
}

export const LOG2: QuantizerKind<Log2Params> = {
  simulate: (step, p) => log2Subgraph(step.builder, step.source, p.bits, p.steps),
  floatSubgraphs: () => ['log2'],
  json: (_point, p) => ({ levels_per_octave: p.steps ?? 1 }),
};
