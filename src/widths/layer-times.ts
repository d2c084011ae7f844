// Each weight layer's time at batch 1 on this machine, float and as model.onnx runs it: the layer cut out of the
// model on its own (with the bias and activation that onnxruntime fuses into it, and the quantizers around it),
// built as the export builds it, and the two timed in interleaved rounds on the layer's real input. Cut out, a
// layer's time does not depend on how onnxruntime names the nodes it fuses, which its profile would.
import { EXPORT_FORMATS, type ExportFormat } from '../export/formats.js';
import { extractSubgraph } from '../onnx/extract.js';
import type { Graph, Node } from '../onnx/graph.js';
import { floatValueInfo } from '../onnx/proto.js';
import { median, TIMED, timeInterleaved, type SpeedBounds } from '../evaluate/speed.js';
import type { FloatTensor, Runner, Session } from '../runtime/runner.js';
import type { QuantParams } from '../quant/scheme.js';
import type { QuantPoint } from '../quant/points.js';
import type { Progress } from '../progress.js';

/** Milliseconds, medians over the rounds. */
export interface LayerTime {
  float: number;
  integer: number;
}

/** Rounds per layer: a layer runs in micro- to milliseconds, so a fraction of a second gives a stable median. */
const LAYER_BOUNDS: Omit<SpeedBounds, 'now'> = { maxRounds: 40, minRounds: 8, budgetMs: 400 };
/** Whole models: as the exported model's speed is timed (evaluate/speed.ts). */
const MODEL_BOUNDS: Omit<SpeedBounds, 'now'> = { maxRounds: 20, minRounds: 5, budgetMs: 4000 };

/** Ops onnxruntime fuses into the layer before it: a bias, an activation. */
const FUSED = new Set(['Add', 'Relu', 'Clip']);

export interface LayerModels {
  graph: Graph;
  points: readonly QuantPoint[];
  params: Readonly<Record<string, QuantParams>>;
  inputMeans: Readonly<Record<string, Float32Array>> | undefined;
  format: ExportFormat;
}

/**
 * The nodes from `node` on that onnxruntime runs as one kernel with it: single consumers that are a bias Add or an
 * activation, up to the first tensor a quantizer reads.
 */
function layerSpan(graph: Graph, node: Node, quantized: ReadonlySet<string>): Node[] {
  const span = [node];
  for (;;) {
    const output = span[span.length - 1].outputs[0];
    const consumers = graph.consumers(output);
    if (quantized.has(output) || graph.isGraphOutput(output) || consumers.length !== 1) return span;
    const next = consumers[0];
    const constantOther = next.inputs.every((t) => t === output || graph.constantValue(t) !== undefined);
    if (!FUSED.has(next.opType) || !constantOther) return span;
    span.push(next);
  }
}

/** The layer of weight point `weight` alone, float and as model.onnx builds it, reading its input `input`. */
export function layerModels(
  m: LayerModels,
  weight: QuantPoint,
): { input: string; float: Uint8Array; integer: Uint8Array } {
  const node = m.graph.nodes.find((n) => n.name === weight.node)!;
  const quantized = new Set(m.points.filter((p) => p.kind !== 'weight').map((p) => p.tensor));
  const span = layerSpan(m.graph, node, quantized);
  const [input, output] = [node.inputs[0], span[span.length - 1].outputs[0]];
  const layer = extractSubgraph(m.graph, [input], [output]);
  const inside = new Set(span.map((n) => n.name));
  // Its weight, the quantizers of its input (as if the layer were their only reader) and of its output.
  const points = m.points.flatMap((p): QuantPoint[] => {
    if (p.kind === 'weight') return p.id === weight.id ? [p] : [];
    if (p.tensor === output) return [{ ...p, consumers: [] }];
    const consumers = p.consumers.filter((c) => inside.has(c));
    return p.tensor === input && consumers.length ? [{ ...p, consumers }] : [];
  });
  const integer = EXPORT_FORMATS[m.format].build(layer, points, m.params, m.inputMeans).graph;
  return { input, float: layer.toBytes(), integer: integer.toBytes() };
}

/** Medians of models timed in interleaved rounds at batch 1, each fed `feeds`. */
export async function timeModels(
  runner: Runner,
  models: readonly Uint8Array[],
  feeds: Record<string, FloatTensor>,
  bounds: Omit<SpeedBounds, 'now'> = MODEL_BOUNDS,
): Promise<number[]> {
  const sessions: Session[] = [];
  try {
    for (const bytes of models) sessions.push(await runner.createSession(bytes, TIMED));
    const times = await timeInterleaved(
      sessions.map((s) => () => s.run(feeds)),
      { ...bounds, now: () => performance.now() },
    );
    return times.map(median);
  } finally {
    for (const s of sessions) await s.release();
  }
}

/** Each weight layer's input on `image` (one image, batch 1), from one float forward. */
async function layerInputs(
  runner: Runner,
  m: LayerModels,
  weights: readonly QuantPoint[],
  feeds: Record<string, FloatTensor>,
): Promise<Record<string, FloatTensor>> {
  const probe = m.graph.clone();
  const inputs = [...new Set(weights.map((w) => m.graph.nodes.find((n) => n.name === w.node)!.inputs[0]))];
  for (const t of inputs) if (!probe.isGraphOutput(t)) probe.outputs.push(floatValueInfo(t));
  probe.invalidate();
  const session = await runner.createSession(probe.toBytes());
  try {
    return await session.run(feeds, inputs);
  } finally {
    await session.release();
  }
}

/** Each weight point's layer time, float and integer, at batch 1 on the image `feeds` holds. */
export async function layerTimes(
  runner: Runner,
  m: LayerModels,
  weights: readonly QuantPoint[],
  feeds: Record<string, FloatTensor>,
  progress: Progress,
): Promise<Record<string, LayerTime>> {
  const inputs = await layerInputs(runner, m, weights, feeds);
  const times: Record<string, LayerTime> = {};
  progress.start('layer times', weights.length);
  try {
    for (const [i, weight] of weights.entries()) {
      const layer = layerModels(m, weight);
      const feed = { [layer.input]: inputs[layer.input] };
      const [float, integer] = await timeModels(runner, [layer.float, layer.integer], feed, LAYER_BOUNDS);
      times[weight.id] = { float, integer };
      progress.update(i + 1);
    }
  } finally {
    progress.end();
  }
  return times;
}
