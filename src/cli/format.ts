// Human-readable output of each command (the --json shapes are the reports themselves).
import { layerKernels } from '../export/kernels.js';
import type { LandscapeFile } from '../pipeline/landscape.js';
import { LANDSCAPE_MEASURES } from '../landscape/landscape.js';
import type { InspectReport } from '../pipeline/inspect.js';
import type { QuantizeReport } from '../pipeline/quantize.js';
import type { ScoredAccuracy } from '../report/types.js';
import { keptName } from '../search/selection.js';
import { settingLabel, weightLevelNote } from '../quant/scheme.js';
import { widthSummary } from '../widths/report.js';
import type { LabeledAccuracy } from '../evaluate/metrics.js';
import { pct } from '../report/markup.js';
import { accuracyColumns } from '../report/accuracy-columns.js';
import { KNN_NEIGHBOURS } from '../evaluate/embeddings.js';
import { otherTask, type DetectedTask, type Task } from '../task.js';
import { batch1Times, batchRates, type SpeedReport } from '../evaluate/speed.js';

export function formatInspect(report: InspectReport): string {
  const lines = [
    `${report.model} (opset ${report.opset}): ${report.points.length} quant points, ${report.units.length} search units`,
    `task: ${report.task.task} (${report.task.reason}; ${otherTask(report.task.task)} to override)`,
  ];
  const counts = new Map<string, number>();
  for (const p of report.points) counts.set(p.kind, (counts.get(p.kind) ?? 0) + 1);
  lines.push(`points: ${[...counts].map(([k, n]) => `${n} ${k}`).join(', ')}`);
  const bn = report.batchNorm;
  if (bn.folded || bn.kept.length)
    lines.push(`BatchNormalization: ${bn.folded} folded into the adjacent layers, ${bn.kept.length} kept`);
  for (const kept of bn.kept) lines.push(`  kept ${kept.node}: ${kept.reason}`);
  const byId = new Map(report.points.map((p) => [p.id, p]));
  for (const [i, unit] of report.units.entries()) {
    lines.push(`unit ${i} ${unit.kind} ${unit.name}`);
    for (const id of unit.points)
      lines.push(`  ${id.padEnd(5)} ${byId.get(id)!.kind.padEnd(10)} ${byId.get(id)!.node}`);
  }
  lines.push('points:');
  for (const p of report.points)
    lines.push(`  ${p.id.padEnd(5)} ${p.kind.padEnd(10)} ${p.tensor}  (${p.node})${p.role ? ` [${p.role}]` : ''}`);
  return lines.join('\n');
}

/** The task, where it is not the plain case of class logits named so: an encoder, or a bare export's guess. */
function taskLine({ task, reason }: DetectedTask): string[] {
  if (task === 'image-classification' && !reason.startsWith('a bare export')) return [];
  return [`task: ${task} (${reason}${reason === '--task' ? '' : `; ${otherTask(task)} to override`})`];
}

export function formatEval(accuracy: LabeledAccuracy & { task: Task }): string {
  const knn = accuracy.task === 'image-feature-extraction';
  const [top1, top5] = knn ? [`${KNN_NEIGHBOURS}-NN top-1`, 'top-5'] : ['top-1', 'top-5'];
  return `${top1} ${pct(accuracy.top1)}  ${top5} ${pct(accuracy.top5)}  (${accuracy.n} images${knn ? ', leave-one-out over their embeddings' : ''})`;
}

/** The accuracy columns' widths on the terminal. */
const WIDTHS = [12, 12, 13, 9];

export function formatQuantize(report: QuantizeReport, out: string): string {
  const s = report.settings;
  const rows: [string, ScoredAccuracy][] = [
    ['float', report.fp],
    [`${settingLabel(s)} baseline`, report.baseline],
  ];
  if (report.evolq) rows.push([`${settingLabel(s)} Evol-Q`, report.evolq]);
  rows.push(['model.onnx', report.exported]);
  const e = report.exported;
  const columns = accuracyColumns(report.task.task);
  const storage = Object.entries(e.weights)
    .filter(([, w]) => w.tensors > 0)
    .map(([t, w]) => `${w.tensors} ${t} weights`)
    .join(', ');
  const floatLayers = e.floatLayers.length
    ? `; ${e.floatLayers.length} layer${e.floatLayers.length > 1 ? 's' : ''} kept float (report.json: exported.floatLayers)`
    : '';
  const floats =
    floatLayers +
    (e.floatSubgraphs.length
      ? `; float subgraphs: ${e.floatSubgraphs.length} (${[...new Set(e.floatSubgraphs.map((f) => f.kind))].join(', ')})`
      : '');
  const search = report.search
    ? [
        `search: ${report.search.evaluations} evaluations${report.search.stopped ? ` (${report.search.stopped} stopped early by racing, ${report.search.forwards.suffixEquivalent.toFixed(1)} run in whole)` : ''} in ${report.search.seconds.toFixed(1)}s; kept ${keptName(report.search)}: ${report.search.why}`,
      ]
    : [];
  // Row names are padded to 18, or wider for a long setting (`Wfloat/8/4/2A8 baseline`).
  const label = Math.max(18, ...rows.map(([name]) => name.length + 1));
  return [
    ...(report.verdict ? [report.verdict.text] : []),
    `${s.model}: ${settingLabel(s)}${weightLevelNote(s)} ${s.method}, observer ${s.observer}${s.ptf ? ', PTF' : ''}${s.lis ? ', log2 softmax' : ''}${s.biasCorrection ? ', bias correction' : ''}`,
    ...taskLine(report.task),
    `evaluated on ${report.evaluatedOn.n} images of ${report.evaluatedOn.images}`,
    `${''.padEnd(label)}${columns.short.map((title, i) => title.padStart(WIDTHS[i])).join('')}`,
    ...rows.map(
      ([name, a]) =>
        `${name.padEnd(label)}${columns
          .cells(a)
          .map((cell, i) => cell.padStart(WIDTHS[i]))
          .join('')}`,
    ),
    ...(report.widths ? [`widths: ${widthSummary(report.widths)}`] : []),
    ...search,
    `model.onnx: ${(e.bytes / 1e6).toFixed(2)} MB, ${(100 * e.sizeRatio).toFixed(1)}% of float, opset ${e.opset}${storage ? `, ${storage}` : ''}${floats}`,
    `onnxruntime-node runs its layers as: ${layerKernels(e.kernels)}`,
    ...(e.speed ? [speedLine(e.speed, e)] : []),
    `wrote ${out} in ${report.timing.total.toFixed(1)}s`,
  ].join('\n');
}

const megabytes = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

/** model.onnx's speed against the float model, each ratio with the times it comes from, and the two files' sizes. */
export function speedLine(speed: SpeedReport, sizes: { bytes: number; floatBytes: number }): string {
  const { speedup } = speed;
  const batch =
    speed.batchSize > 1 ? `, ${speedup.batch.toFixed(2)}× at batch ${speed.batchSize} (${batchRates(speed)})` : '';
  return `speed: model.onnx ${speedup.batch1.toFixed(2)}× float at batch 1 (${batch1Times(speed)})${batch}; ${megabytes(sizes.bytes)} vs ${megabytes(sizes.floatBytes)}`;
}

export function formatLandscape(l: LandscapeFile, out: string): string {
  const s = l.settings;
  const at0 = l.line.reduce((best, p) => (Math.abs(p.a) < Math.abs(best.a) ? p : best), l.line[0]);
  return [
    `${s.model}: landscape of unit ${l.unit.index} ${l.unit.name} (${l.unit.points.length} points, ${l.dimensions} scales) at ${settingLabel(s)}`,
    `${s.points} points along a random direction in ±${s.radius} relative${l.grid ? `, ${l.grid.size}×${l.grid.size} grid` : ''}; losses on ${s.calibImages} calibration images, top-1 on ${s.evalImages}`,
    `at the calibrated scales: infoNCE ${at0.infonce.toFixed(5)}, MSE ${at0.mse.toExponential(3)}, KL ${at0.kl.toExponential(3)}, top-1 ${pct(at0.top1)}`,
    `${'roughness'.padEnd(10)}${'minima'.padStart(8)}${'TV/range'.padStart(10)}${l.grid ? 'grid minima'.padStart(13) : ''}`,
    ...LANDSCAPE_MEASURES.map(
      (m) =>
        `${(m === 'top1' ? 'top-1 err' : m).padEnd(10)}${String(l.roughness[m].localMinima).padStart(8)}${l.roughness[m].normalizedVariation.toFixed(2).padStart(10)}${l.grid ? String(l.roughness[m].gridLocalMinima ?? '-').padStart(13) : ''}`,
    ),
    `wrote ${l.files.join(', ')} to ${out} in ${l.seconds.toFixed(1)}s`,
  ].join('\n');
}
