// Summarizes bench/results/accuracy/*.json into a markdown table: mean and half the range over seeds, the share
// of the baseline-to-float gap Evol-Q recovers, the test KL of the float from each (where the run measured it),
// what the selection kept, and the time per run.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = 'bench/results/accuracy';
const groups = new Map();
for (const file of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
  const report = JSON.parse(readFileSync(join(dir, file), 'utf8'));
  const key = file.replace(/-seed\d+\.json$/, '');
  if (!groups.has(key)) groups.set(key, []);
  groups.get(key).push(report);
}
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const stat = (xs, sign = false) => {
  const m = 100 * mean(xs);
  return `${sign && m >= 0 ? '+' : ''}${m.toFixed(2)} ± ${((100 * (Math.max(...xs) - Math.min(...xs))) / 2).toFixed(2)}`;
};
const rows = [
  '| model | setting | seeds | float | baseline | Evol-Q | Evol-Q − baseline | gap recovered | test KL, baseline → Evol-Q | kept | s per run (search) |',
  '|---|---|---|---|---|---|---|---|---|---|---|',
];
/** Mean test KL of the float from the baseline and from Evol-Q, where every run measured it. */
const testKl = (reports) =>
  reports.every((r) => r.baseline.toFloat && r.evolq.toFloat)
    ? `${mean(reports.map((r) => r.baseline.toFloat.kl)).toFixed(4)} → ${mean(reports.map((r) => r.evolq.toFloat.kl)).toFixed(4)}`
    : '';
/** What the selection kept in each run: the baseline, the unsearched start, or pass N. */
const kept = (reports) =>
  reports
    .map((r) => (r.search.keptStart ? 'start' : r.search.keptPass === 0 ? 'baseline' : `pass ${r.search.keptPass}`))
    .join(', ');
const order = (key) => key.replace(/-w(\d)a(\d)-/, (_, w, a) => `-${9 - a}${9 - w}-`);
for (const [key, reports] of [...groups].sort(([a], [b]) => order(a).localeCompare(order(b)))) {
  const [, model, w, a, tag] = key.match(/^(.*)-w(\d)a(\d)-(.*)$/);
  const gain = reports.map((r) => r.evolq.top1 - r.baseline.top1);
  const gap = mean(reports.map((r) => r.fp.top1 - r.baseline.top1));
  const recovered =
    gap > 0.005
      ? `${(((100 * mean(gain)) / (100 * gap)) * 100).toFixed(0)}% of ${(100 * gap).toFixed(2)}`
      : `(gap ${(100 * gap).toFixed(2)})`;
  rows.push(
    `| ${model} | W${w}A${a} ${tag} | ${reports.length} | ${stat(reports.map((r) => r.fp.top1))} | ${stat(reports.map((r) => r.baseline.top1))} | ${stat(reports.map((r) => r.evolq.top1))} | ${stat(gain, true)} | ${recovered} | ${testKl(reports)} | ${kept(reports)} | ${mean(reports.map((r) => r.timing.total)).toFixed(0)} (${mean(reports.map((r) => r.search.seconds)).toFixed(0)}) |`,
  );
}
const table = `${rows.join('\n')}\n\nmean ± half the range over seeds, top-1 in % on the full CIFAR-10 test set (10,000 images)\n`;
writeFileSync(join(dir, '..', 'accuracy.md'), table);
process.stdout.write(table);
