// Summarizes the per-layer width runs of bench/results/accuracy/ (bench/accuracy-table.sh with EXTRA="--size-budget
// NB" TAG=-budget-w4size, or any budget with a TAG starting -budget-, beside the uniform W4A8 and W3A8 rows): per
// model and setting, model.onnx's size, and top-1, KL to float and top-1 agreement with float on the full CIFAR-10
// test set, mean ± half the range over seeds.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = 'bench/results/accuracy';
const groups = new Map();
for (const file of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
  const key = file.replace(/-seed\d+\.json$/, '');
  if (!/-w4a8-default$|-w3a8-default$|-budget-[\w.-]+$/.test(key)) continue;
  if (!groups.has(key)) groups.set(key, []);
  groups.get(key).push(JSON.parse(readFileSync(join(dir, file), 'utf8')));
}
/** How the runs gave their width budget (reports before 2026-12-08's accuracy budget have no `kind`: size). */
const budgetFlag = (b) =>
  b.kind === 'latency'
    ? `--latency-budget ${b.fraction}`
    : b.kind === 'accuracy'
      ? `--accuracy-budget ${b.points}`
      : `--size-budget ${b.bytes} B`;
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const spread = (xs, scale, digits) =>
  `${(scale * mean(xs)).toFixed(digits)} ± ${((scale * (Math.max(...xs) - Math.min(...xs))) / 2).toFixed(digits)}`;
const rows = [
  '| model | setting | seeds | model.onnx | float top-1 | top-1 | KL to float | agreement | speed vs float, batch 1 | widths (float/8/4/2) |',
  '|---|---|---|---|---|---|---|---|---|---|',
];
for (const [key, reports] of [...groups].sort()) {
  const [, model, setting] = /^(.*)-(w\da\d-default.*)$/.exec(key);
  const e = reports.map((r) => r.exported);
  const w = reports[0].widths;
  const counts = w
    ? [32, 8, 4, 2]
        .map((b) => mean(reports.map((r) => r.widths.layers.filter((l) => l.bits === b).length)).toFixed(1))
        .join('/')
    : '';
  const cells = [
    model,
    w ? `Evol-Q, ${budgetFlag(w.budget)}` : `${setting.slice(0, 4).toUpperCase()} Evol-Q`,
    reports.length,
    `${(100 * mean(e.map((x) => x.sizeRatio))).toFixed(1)}%`,
    (100 * reports[0].fp.top1).toFixed(2),
    spread(
      e.map((x) => x.top1),
      100,
      2,
    ),
    spread(
      e.map((x) => x.toFloat.kl),
      1,
      5,
    ),
    spread(
      e.map((x) => x.toFloat.agreement),
      100,
      2,
    ),
    `${spread(
      e.map((x) => x.speed.speedup.batch1),
      1,
      2,
    )}×`,
    counts,
  ];
  rows.push(`| ${cells.join(' | ')} |`);
}
console.log(rows.join('\n'));
