// A mutable graph IR over an ONNX model: nodes with producers and consumers, topological order, edits.
import {
  onnx,
  toNumber,
  tensorToFloat32,
  tensorDims,
  encodeModel,
  type ModelProto,
  type TensorProto,
  type AttributeProto,
  type ValueInfoProto,
} from './proto.js';
import { GraphError } from '../errors.js';

export interface Node {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attributes: AttributeProto[];
}

export interface ConstantValue {
  values: Float32Array;
  dims: number[];
}

export class Graph {
  nodes: Node[];
  readonly initializers: Map<string, TensorProto>;
  inputs: ValueInfoProto[];
  outputs: ValueInfoProto[];
  valueInfo: ValueInfoProto[];
  /** Opset imports and IR version of the model this graph writes (an opset upgrade edits them). */
  opsetImport: ModelProto['opsetImport'];
  irVersion: ModelProto['irVersion'];
  private indexed = false;
  private producers = new Map<string, Node>();
  private consumerLists = new Map<string, Node[]>();
  private nameCounter = 0;

  constructor(readonly model: ModelProto) {
    const graph = model.graph;
    if (!graph) throw new GraphError('the model has no graph');
    const seen = new Set<string>();
    // Quant points refer to nodes by name: give unnamed and duplicate-named nodes unique names.
    const uniqueNodeName = (name: string) => {
      let unique = name;
      for (let k = 1; seen.has(unique); k++) unique = `${name}#${k}`;
      seen.add(unique);
      return unique;
    };
    this.nodes = (graph.node ?? []).map((n, i) => ({
      name: uniqueNodeName(n.name || `${n.opType}_${i}`),
      opType: n.opType ?? '',
      domain: n.domain ?? '',
      inputs: [...(n.input ?? [])],
      outputs: [...(n.output ?? [])],
      attributes: [...(n.attribute ?? [])],
    }));
    this.initializers = new Map((graph.initializer ?? []).map((t) => [t.name ?? '', t]));
    // Inputs that are initializers are overridable constants, not data inputs.
    this.inputs = (graph.input ?? []).filter((i) => !this.initializers.has(i.name ?? ''));
    this.outputs = [...(graph.output ?? [])];
    this.valueInfo = [...(graph.valueInfo ?? [])];
    this.opsetImport = model.opsetImport.map((o) => ({ domain: o.domain ?? '', version: o.version }));
    this.irVersion = model.irVersion;
  }

  /** The default-domain opset version. */
  get opset(): number {
    const entry = this.opsetImport.find((o) => !o.domain || o.domain === 'ai.onnx');
    return entry ? toNumber(entry.version) : 0;
  }

  private index(): void {
    if (this.indexed) return;
    this.producers.clear();
    this.consumerLists.clear();
    for (const node of this.nodes) {
      for (const out of node.outputs) if (out) this.producers.set(out, node);
      for (const inp of node.inputs) {
        if (!inp) continue;
        let list = this.consumerLists.get(inp);
        if (!list) this.consumerLists.set(inp, (list = []));
        if (!list.includes(node)) list.push(node);
      }
    }
    this.indexed = true;
  }

  /** Call after editing nodes' inputs or outputs in place. */
  invalidate(): void {
    this.indexed = false;
  }

  producer(tensor: string): Node | undefined {
    this.index();
    return this.producers.get(tensor);
  }

  consumers(tensor: string): Node[] {
    this.index();
    return this.consumerLists.get(tensor) ?? [];
  }

  isGraphOutput(tensor: string): boolean {
    return this.outputs.some((o) => o.name === tensor);
  }

  /** Nodes in an order where every producer comes before its consumers (Kahn, stable in file order). */
  topoOrder(): Node[] {
    this.index();
    const pending = new Map<Node, number>();
    for (const node of this.nodes) {
      pending.set(node, node.inputs.filter((t) => t && this.producers.has(t)).length);
    }
    const ready: Node[] = this.nodes.filter((n) => pending.get(n) === 0);
    const order: Node[] = [];
    const position = new Map(this.nodes.map((n, i) => [n, i]));
    while (ready.length) {
      ready.sort((a, b) => position.get(a)! - position.get(b)!);
      const node = ready.shift()!;
      order.push(node);
      for (const out of node.outputs) {
        for (const consumer of this.consumers(out)) {
          const count = consumer.inputs.filter((t) => t === out).length;
          const left = pending.get(consumer)! - count;
          pending.set(consumer, left);
          if (left === 0) ready.push(consumer);
        }
      }
    }
    const stuck = this.nodes.find((n) => pending.get(n)! > 0);
    if (stuck)
      throw new GraphError(`the graph has a cycle through node '${stuck.name}': export the model again`, stuck.name);
    return order;
  }

  /** The constant value of a tensor: an initializer or a Constant node's value, seen through Identity. */
  constantValue(tensor: string): ConstantValue | undefined {
    const source = this.constantSource(tensor);
    if (!source) return undefined;
    if ((source.dataType ?? 0) !== 1 && (source.dataType ?? 0) !== 11) return undefined;
    return { values: tensorToFloat32(source), dims: tensorDims(source) };
  }

  /** The TensorProto behind a constant tensor, or undefined when it is computed at run time. */
  constantSource(tensor: string): TensorProto | undefined {
    for (let name = tensor, hops = 0; hops < 16; hops++) {
      const init = this.initializers.get(name);
      if (init) return init;
      const node = this.producer(name);
      if (!node) return undefined;
      if (node.opType === 'Constant') {
        const value = node.attributes.find((a) => a.name === 'value');
        return value?.t ?? undefined;
      }
      if (node.opType !== 'Identity') return undefined;
      name = node.inputs[0];
    }
    return undefined;
  }

  isConstant(tensor: string): boolean {
    return this.constantSource(tensor) !== undefined;
  }

  /** A tensor name not used anywhere in the graph, derived from `base`. */
  uniqueName(base: string): string {
    this.index();
    let name = base;
    while (
      this.producers.has(name) ||
      this.consumerLists.has(name) ||
      this.initializers.has(name) ||
      this.inputs.some((i) => i.name === name)
    ) {
      name = `${base}_${++this.nameCounter}`;
    }
    return name;
  }

  addNode(node: Node): Node {
    this.nodes.push(node);
    this.invalidate();
    return node;
  }

  addInitializer(tensor: TensorProto): void {
    this.initializers.set(tensor.name ?? '', tensor);
  }

  /** Points the consumers' inputs that read `from` to `to` instead. */
  rewire(from: string, to: string, consumers: readonly Node[]): void {
    for (const node of consumers) node.inputs = node.inputs.map((t) => (t === from ? to : t));
    this.invalidate();
  }

  /** A new ModelProto with the graph's current nodes in topological order. */
  toModel(): ModelProto {
    const used = new Set<string>();
    for (const node of this.nodes) for (const t of node.inputs) used.add(t);
    for (const o of this.outputs) used.add(o.name ?? '');
    const graph = onnx.GraphProto.create({
      name: this.model.graph?.name ?? 'graph',
      node: this.topoOrder().map((n) =>
        onnx.NodeProto.create({
          name: n.name,
          opType: n.opType,
          domain: n.domain,
          input: n.inputs,
          output: n.outputs,
          attribute: n.attributes,
        }),
      ),
      initializer: [...this.initializers.values()].filter((t) => used.has(t.name ?? '')),
      input: this.inputs,
      output: this.outputs,
      valueInfo: this.valueInfo,
    });
    return onnx.ModelProto.create({
      irVersion: this.irVersion,
      opsetImport: this.opsetImport.map((o) => onnx.OperatorSetIdProto.create(o)),
      producerName: this.model.producerName,
      producerVersion: this.model.producerVersion,
      domain: this.model.domain,
      modelVersion: this.model.modelVersion,
      docString: this.model.docString,
      metadataProps: this.model.metadataProps,
      graph,
    });
  }

  /** The serialized model, as onnxruntime takes it. */
  toBytes(): Uint8Array {
    return encodeModel(this.toModel()).model;
  }

  /** A deep copy, so edits to it leave this graph alone (initializer protos are shared: treat them as read-only). */
  clone(): Graph {
    const copy = Object.create(Graph.prototype) as Graph;
    Object.assign(copy, {
      model: this.model,
      nodes: this.nodes.map((n) => ({
        ...n,
        inputs: [...n.inputs],
        outputs: [...n.outputs],
        attributes: [...n.attributes],
      })),
      initializers: new Map(this.initializers),
      inputs: [...this.inputs],
      outputs: [...this.outputs],
      valueInfo: [...this.valueInfo],
      opsetImport: this.opsetImport.map((o) => ({ ...o })),
      irVersion: this.irVersion,
      indexed: false,
      producers: new Map(),
      consumerLists: new Map(),
      nameCounter: this.nameCounter,
    });
    return copy;
  }
}

/** An attribute's value by name, as the number, numbers, string or tensor it holds. */
export function attribute(node: Node, name: string): AttributeProto | undefined {
  return node.attributes.find((a) => a.name === name);
}

export function intAttribute(node: Node, name: string, fallback: number): number {
  const a = attribute(node, name);
  return a && a.i !== undefined && a.i !== null ? toNumber(a.i) : fallback;
}

/** A float attribute's value (alpha, beta, epsilon), or `fallback` when absent. */
export function floatAttribute(node: Node, name: string, fallback: number): number {
  const a = attribute(node, name);
  return a?.f !== undefined && a.f !== null ? a.f : fallback;
}

export function intsAttribute(node: Node, name: string): number[] | undefined {
  const a = attribute(node, name);
  return a?.ints?.length ? a.ints.map((v) => toNumber(v)) : undefined;
}

export function makeAttribute(
  name: string,
  value: number | number[] | string,
  kind: 'int' | 'float' = 'int',
): AttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof value === 'string')
    return onnx.AttributeProto.create({ name, type: T.STRING, s: new TextEncoder().encode(value) });
  if (Array.isArray(value)) return onnx.AttributeProto.create({ name, type: T.INTS, ints: value });
  if (kind === 'float') return onnx.AttributeProto.create({ name, type: T.FLOAT, f: value });
  return onnx.AttributeProto.create({ name, type: T.INT, i: value });
}
