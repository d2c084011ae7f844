// How big the holdout must be: from bench/results/accuracy/*.json, each run's lowest pass on the holdout against
// the baseline (its paired difference d and bootstrap standard error se on n holdout images), and the holdout
// that would find a true difference of that size above the noise (one-sided 95%, as --select does) in 80% of
// draws: n · ((1.645 + 0.842) · se / |d|)², since se shrinks as 1/√n. Run after bench/accuracy-table.sh.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2] ?? 'bench/results/accuracy';
const Z = 1.645 + 0.842;
const rows = [
  '| run | holdout | lowest pass | d (mean per-image difference) | se | d / se | holdout for 80% power |',
  '|---|---|---|---|---|---|---|',
];
for (const file of readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort()) {
  const report = JSON.parse(readFileSync(join(dir, file), 'utf8'));
  const n = report.settings.holdout;
  const passes = (report.search?.holdout ?? []).filter((h) => h.versusBaseline);
  if (!passes.length) continue;
  const best = passes.reduce((a, b) => (b.versusBaseline.difference < a.versusBaseline.difference ? b : a));
  const { difference: d, standardError: se } = best.versusBaseline;
  const needed = d < 0 ? Math.ceil(n * ((Z * se) / -d) ** 2) : Infinity;
  rows.push(
    `| ${file.replace(/\.json$/, '')} | ${n} | ${best.pass} | ${d.toExponential(2)} | ${se.toExponential(2)} | ${(d / se).toFixed(1)} | ${Number.isFinite(needed) ? needed : 'none lower'} |`,
  );
}
process.stdout.write(`${rows.join('\n')}\n`);
