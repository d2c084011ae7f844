// Raising a graph's default-domain opset (13–20 → 21) for the 4-bit types, rewriting the ops whose
// signature changed on the way. Ops whose meaning changed in a way that cannot be rewritten are refused.
import { Graph, attribute, intsAttribute, makeAttribute } from './graph.js';
import { int64Tensor, toNumber } from './proto.js';
import { GraphError } from '../errors.js';

/** Reductions whose `axes` moved from an attribute to an input in opset 18 (ReduceSum moved in 13). */
const AXES_TO_INPUT_AT_18 = new Set([
  'ReduceMean',
  'ReduceMax',
  'ReduceMin',
  'ReduceProd',
  'ReduceL1',
  'ReduceL2',
  'ReduceLogSum',
  'ReduceLogSumExp',
  'ReduceSumSquare',
]);

/** IR version 10 is the first that has the 4-bit types (and opset 21). */
const IR_VERSION_FOR_21 = 10;

export function upgradeOpset(graph: Graph, target: number): void {
  const from = graph.opset;
  if (from >= target) return;
  if (from < 13) throw new GraphError(`cannot raise opset ${from} to ${target}: evolq needs opset 13 or newer`);
  if (target > 21) throw new GraphError(`opset upgrade to ${target} is not supported (21 is the newest evolq writes)`);
  for (const node of graph.nodes) {
    if (node.domain && node.domain !== 'ai.onnx') continue;
    if (from < 18 && target >= 18 && AXES_TO_INPUT_AT_18.has(node.opType)) {
      const axes = intsAttribute(node, 'axes');
      node.attributes = node.attributes.filter((a) => a.name !== 'axes');
      if (axes) {
        const name = graph.uniqueName(`${node.name}/axes`);
        graph.addInitializer(int64Tensor(name, [axes.length], axes));
        node.inputs = [node.inputs[0], name];
      }
    } else if (node.opType === 'GroupNormalization' && target >= 21) {
      throw new GraphError(
        `cannot raise opset to ${target}: GroupNormalization '${node.name}' changed meaning in opset 21 (scale and bias per channel, not per group)`,
        node.name,
      );
    } else if (node.opType === 'GridSample' && from < 20 && target >= 20) {
      const mode = attribute(node, 'mode');
      const renamed: Record<string, string> = { bilinear: 'linear', bicubic: 'cubic' };
      const value = mode?.s ? Buffer.from(mode.s).toString() : 'bilinear';
      node.attributes = [
        ...node.attributes.filter((a) => a.name !== 'mode'),
        makeAttribute('mode', renamed[value] ?? value),
      ];
    }
  }
  graph.invalidate();
  for (const entry of graph.opsetImport) if (!entry.domain || entry.domain === 'ai.onnx') entry.version = target;
  if (toNumber(graph.irVersion) < IR_VERSION_FOR_21) graph.irVersion = IR_VERSION_FOR_21;
}
