// `evolq inspect`: the quant points and search units of a model.
import { loadModel, type ModelOptions } from '../model.js';
import type { DetectedTask } from '../task.js';
import { findQuantPoints, type PointOptions, type QuantPoint } from '../quant/points.js';
import { findUnits, type SearchSpace } from '../quant/units.js';

export interface InspectReport {
  model: string;
  opset: number;
  /** Class logits or an image encoder's embedding, and why. */
  task: DetectedTask;
  /** BatchNormalizations folded into adjacent layers before quant points are marked, and those kept. */
  batchNorm: { folded: number; kept: { node: string; reason: string }[] };
  units: { name: string; kind: 'attention' | 'block'; points: string[] }[];
  points: Pick<QuantPoint, 'id' | 'kind' | 'tensor' | 'node' | 'role'>[];
}

export function inspectModel(
  path: string,
  space: SearchSpace = 'attention',
  options: ModelOptions = {},
  pointOptions: PointOptions = {},
): InspectReport {
  const model = loadModel(path, options);
  const points = findQuantPoints(model.graph, pointOptions);
  const units = findUnits(model.graph, points, space);
  return {
    model: model.file,
    opset: model.graph.opset,
    task: model.task,
    batchNorm: { folded: model.batchNormFolding.folded.length, kept: model.batchNormFolding.kept },
    units: units.map((u) => ({ name: u.name, kind: u.kind, points: u.points })),
    points: points.map((p) => ({
      id: p.id,
      kind: p.kind,
      tensor: p.tensor,
      node: p.node,
      ...(p.role ? { role: p.role } : {}),
    })),
  };
}
