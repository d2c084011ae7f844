// The one node builder: every pass that adds nodes and constants to a graph goes through it, so names and
// their order (which the written model's bytes depend on) are made in one place.
import { DataType, floatTensor, int64Tensor, onnx } from './proto.js';
import type { Graph, Node } from './graph.js';

/** A node with exactly these names; the node's name is its output's unless given. */
export interface NodeSpec {
  opType: string;
  inputs: string[];
  output: string;
  attributes?: Node['attributes'];
  name?: string;
}

/** How names join the prefix: `${prefix}${node}${name}` for new tensors, `${prefix}${constant}${name}` for constants. */
export interface NameJoints {
  node: string;
  constant: string;
}

/** Adds nodes and constants under one name prefix. */
export class NodeBuilder {
  constructor(
    readonly graph: Graph,
    readonly prefix = '',
    readonly joints: NameJoints = { node: '/', constant: '::' },
  ) {}

  /** A node writing one new tensor, `${prefix}/${name}` made unique, which also names the node. */
  node(
    opType: string,
    inputs: string[],
    attributes: Node['attributes'] = [],
    name = opType,
    output = this.graph.uniqueName(`${this.prefix}${this.joints.node}${name}`),
  ): string {
    return this.add({ opType, inputs, output, attributes });
  }

  /** A node in the default domain with the names the caller chose. */
  add({ opType, inputs, output, attributes = [], name = output }: NodeSpec): string {
    this.graph.addNode({ name, opType, domain: '', inputs, outputs: [output], attributes });
    return output;
  }

  /** A float constant `${prefix}::${name}` made unique. */
  floats(name: string, dims: number[], values: ArrayLike<number>): string {
    const key = this.graph.uniqueName(`${this.prefix}${this.joints.constant}${name}`);
    this.graph.addInitializer(
      floatTensor(key, dims, values instanceof Float32Array ? values : Float32Array.from(values)),
    );
    return key;
  }

  /** A float scalar of this prefix's own, `${prefix}::c${value}`. */
  scalar(value: number): string {
    return this.floats(`c${value}`, [], [value]);
  }

  /** A 1-D int64 constant `${prefix}::${name}` made unique. */
  ints(name: string, values: number[]): string {
    const key = this.graph.uniqueName(`${this.prefix}${this.joints.constant}${name}`);
    this.graph.addInitializer(int64Tensor(key, [values.length], values));
    return key;
  }

  /** A float scalar that every subgraph of the graph shares, named after its value. */
  sharedScalar(value: number): string {
    const key = `evolq::${value}`;
    if (!this.graph.initializers.has(key)) this.graph.addInitializer(floatTensor(key, [], Float32Array.of(value)));
    return key;
  }

  /** A uint8 scalar that every subgraph of the graph shares, named after its value. */
  sharedUint8(value: number, key = `evolq::u8::${value}`): string {
    if (!this.graph.initializers.has(key)) {
      this.graph.addInitializer(
        onnx.TensorProto.create({ name: key, dims: [], dataType: DataType.UINT8, rawData: Uint8Array.of(value) }),
      );
    }
    return key;
  }
}
