// The probe graph: the float model with the requested tensors' ranges reduced inside onnxruntime as outputs.
import { makeAttribute, type Graph } from '../onnx/graph.js';
import { floatValueInfo } from '../onnx/proto.js';
import { NodeBuilder } from '../onnx/builder.js';

/** The probe: the float model with each of `reduced`'s min, max and sum (NaN flag) as outputs, and `whole` as outputs. */
export function probeGraph(graph: Graph, reducedTensors: readonly string[], whole: readonly string[]) {
  const probe = graph.clone();
  const reduced = new Map<string, { min: string; max: string; nan: string }>();
  const keepdims = makeAttribute('keepdims', 0);
  const nodes = new NodeBuilder(probe);
  for (const t of reducedTensors) {
    const names = {
      min: probe.uniqueName(`${t}::calib_min`),
      max: probe.uniqueName(`${t}::calib_max`),
      nan: probe.uniqueName(`${t}::calib_sum`),
    };
    nodes.add({ opType: 'ReduceMin', inputs: [t], output: names.min, attributes: [keepdims] });
    nodes.add({ opType: 'ReduceMax', inputs: [t], output: names.max, attributes: [keepdims] });
    // onnxruntime's ReduceMin/ReduceMax skip a NaN unless it comes first; a sum is NaN wherever one is.
    nodes.add({ opType: 'ReduceSum', inputs: [t], output: names.nan, attributes: [keepdims] });
    for (const name of Object.values(names)) probe.outputs.push(floatValueInfo(name));
    reduced.set(t, names);
  }
  for (const t of whole)
    if (!probe.inputs.some((i) => i.name === t) && !probe.isGraphOutput(t)) probe.outputs.push(floatValueInfo(t));
  return { probe, reduced };
}
