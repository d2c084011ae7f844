// Prints the export table from bench/results/export/*.json (see export-table.sh).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = new URL('./results/export/', import.meta.url).pathname;
const pct = (x) => (100 * x).toFixed(2);
const rows = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => {
    const r = JSON.parse(readFileSync(join(dir, f), 'utf8'));
    const simulated = r.evolq ?? r.baseline;
    const s = r.settings;
    return `| ${f.replace(/-w\d.*/, '')} | W${s.wBits}A${s.aBits} | ${s.method} | ${pct(simulated.top1)} | ${pct(r.exported.top1)} | ${(100 * (r.exported.top1 - simulated.top1)).toFixed(2)} | ${(r.exported.bytes / 1e6).toFixed(2)} MB | ${(100 * r.exported.sizeRatio).toFixed(1)}% |`;
  });
console.log(
  [
    '| model | setting | method | simulated top-1 | model.onnx top-1 | difference | size | of float |',
    '|---|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n'),
);
