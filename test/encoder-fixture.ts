// An image encoder made from a classifier folder: the graph cut before its head (the Gemm, or MatMul + Add, that
// writes the logits), its input renamed `image_embeds`, with the folder's preprocessor_config.json and a config.json
// that names no classes, as Hugging Face writes for a ViTModel. The bundled vit-cifar10 cut so is a trained encoder
// whose k-NN top-1 means something (tests and bench/encoder.ts).
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readModel, floatValueInfo, valueInfoShape } from '../src/onnx/proto.js';
import { Graph } from '../src/onnx/graph.js';
import { pruneDeadNodes } from '../src/onnx/edits.js';
import { renameGraphValues } from '../src/export/model-folder.js';

/**
 * Writes `to`/model.onnx, config.json and preprocessor_config.json: `from`'s classifier without its head. With
 * `tokens`, cut before the class token is taken too (ViT's Gather): every token's features, `last_hidden_state`.
 */
export function writeEncoderFolder(from: string, to: string, tokens = false): { width: number } {
  const graph = new Graph(readModel(join(from, 'model.onnx')));
  let head = graph.producer(graph.outputs[0].name ?? '')!;
  if (head.opType === 'Add') head = graph.producer(head.inputs.find((t) => !graph.isConstant(t))!)!;
  if (head.opType !== 'Gemm' && head.opType !== 'MatMul') throw new Error(`${from}: no Gemm or MatMul head to cut`);
  const taken = graph.producer(head.inputs[0]);
  if (tokens && taken?.opType !== 'Gather') throw new Error(`${from}: no class-token Gather before the head`);
  const features = tokens ? taken!.inputs[0] : head.inputs[0];
  const name = tokens ? 'last_hidden_state' : 'image_embeds';
  const weight = graph.constantValue(head.inputs[1])!;
  const width =
    head.opType === 'Gemm' && head.attributes.some((a) => a.name === 'transB' && Number(a.i) === 1)
      ? weight.dims[1]
      : weight.dims[0];
  const batch = valueInfoShape(graph.outputs[0])?.[0] ?? 'batch';
  graph.outputs = [floatValueInfo(features, tokens ? [batch, 'tokens', width] : [batch, width])];
  graph.invalidate();
  pruneDeadNodes(graph);
  const read = new Set(graph.nodes.flatMap((n) => n.inputs));
  for (const name of [...graph.initializers.keys()]) if (!read.has(name)) graph.initializers.delete(name);
  mkdirSync(to, { recursive: true });
  writeFileSync(join(to, 'model.onnx'), renameGraphValues(graph.toBytes(), [[features, name]]));
  copyFileSync(join(from, 'preprocessor_config.json'), join(to, 'preprocessor_config.json'));
  const config = JSON.parse(readFileSync(join(from, 'config.json'), 'utf8'));
  writeFileSync(
    join(to, 'config.json'),
    JSON.stringify(
      { model_type: config.model_type, architectures: ['ViTModel'], image_size: config.image_size },
      null,
      2,
    ),
  );
  return { width };
}
