// Summarizes bench/results/accuracy/*.json into a markdown table: mean and spread (max − min) over seeds, one row
// per model, setting and preset (a file name without a preset is --preset default), with the time per run.
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
const stat = (xs) => {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  return `${(100 * mean).toFixed(2)} ± ${((100 * (Math.max(...xs) - Math.min(...xs))) / 2).toFixed(2)}`;
};
const rows = ['| model | setting | preset | seeds | float top-1 | baseline top-1 | Evol-Q top-1 | Evol-Q − baseline | search s | s per run |', '|---|---|---|---|---|---|---|---|---|---|'];
const average = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
for (const [key, reports] of [...groups].sort()) {
  const [model, setting, rest] = key.split(/-(w\da8)-/);
  const [loss, preset = 'default'] = rest.split('-');
  const gain = reports.map((r) => r.evolq.top1 - r.baseline.top1);
  rows.push(`| ${model} | ${setting.toUpperCase()} ${loss} | ${preset} | ${reports.length} | ${stat(reports.map((r) => r.fp.top1))} | ${stat(reports.map((r) => r.baseline.top1))} | ${stat(reports.map((r) => r.evolq.top1))} | ${stat(gain)} | ${average(reports.map((r) => r.search.seconds)).toFixed(0)} | ${average(reports.map((r) => r.timing.total)).toFixed(0)} |`);
}
const table = `${rows.join('\n')}\n\nmean ± half the range over seeds, top-1 in % on the full CIFAR-10 test set (10,000 images)\n`;
writeFileSync(join(dir, '..', 'accuracy.md'), table);
process.stdout.write(table);
