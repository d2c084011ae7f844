// The Widths section of report.html (--size-budget): the holdout measure against model.onnx's size for every
// uniform width and the chosen widths (with the budget), each weight's width along the model's depth, and a table.
import type { QuantizeReport } from './types.js';
import { escape, figure, table } from './markup.js';
import { barChart } from './plots.js';
import type { TopLevelSpec } from 'vega-lite';

type Widths = NonNullable<QuantizeReport['widths']>;

const mib = (bytes: number) => (bytes / 1024 ** 2).toFixed(3);

/** Holdout measure against size: one point per uniform width and one for the chosen widths, the budget as a rule. */
function frontSpec(w: Widths): TopLevelSpec {
  const values = [
    ...w.uniform
      .filter((u) => u.holdout !== null)
      .map((u) => ({ model: `uniform ${u.bits}-bit`, size: u.bytes / 1024 ** 2, measure: u.holdout! })),
    { model: 'chosen widths', size: w.bytes / 1024 ** 2, measure: w.holdout!.assignment },
  ];
  const measure = `holdout ${w.holdout!.measure} to float`;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: 380,
    height: 220,
    layer: [
      {
        data: { values },
        mark: { type: 'point', filled: true, size: 80 },
        encoding: {
          x: { field: 'size', type: 'quantitative', title: 'model.onnx (MiB)', scale: { zero: false } },
          y: { field: 'measure', type: 'quantitative', title: measure, scale: { type: 'log' } },
          color: { field: 'model', type: 'nominal', title: null },
        },
      },
      {
        data: { values: [{ budget: (w.budget.kind === 'size' ? w.budget.bytes : w.bytes) / 1024 ** 2 }] },
        mark: { type: 'rule', strokeDash: [4, 3], color: '#888' },
        encoding: { x: { field: 'budget', type: 'quantitative' } },
      },
    ],
  } as TopLevelSpec;
}

export async function widthsSection(r: QuantizeReport): Promise<string> {
  const w = r.widths;
  if (!w) return '';
  const kept =
    w.kept === 'assignment'
      ? 'the knapsack’s widths'
      : `${w.kept} weights, which measured better on the holdout than the knapsack’s widths`;
  const { budget } = w;
  const within =
    budget.kind === 'size'
      ? `within the budget of ${mib(budget.bytes)} MiB`
      : `, the smallest the bisection found whose top-1 agrees with float's on all but ${budget.points}% of the ${budget.images} holdout images`;
  const parts = [
    `<h2>Widths</h2><p><strong>Kept: ${escape(kept)}</strong>: model.onnx ${mib(w.bytes)} MiB ${escape(within)} (${(w.bytes / w.floatBytes).toFixed(3)} of float), from widths ${escape(w.choices.join(', '))}.${
      w.sensitivity
        ? ` Each weight’s sensitivity is the rise of ${escape(w.sensitivity.measure)} to float on ${w.sensitivity.images} calibration images when it alone takes a lower width (${w.sensitivity.forwards.toFixed(1)} forwards).`
        : ''
    }</p>`,
  ];
  if (budget.kind === 'accuracy')
    parts.push(
      table(
        ['try', 'model.onnx (MiB)', 'top-1 agreement with float'],
        budget.tried.map((t, i) => [i + 1, mib(t.bytes), `${(100 - t.drop).toFixed(2)}%`]),
        [true, true, true],
      ),
    );
  if (w.holdout)
    parts.push(
      await figure(
        frontSpec(w),
        `Holdout ${w.holdout.measure} to float (${w.holdout.images} images, log scale) against model.onnx's size, before the search; the dashed line is the budget.`,
      ),
    );
  const rows = w.layers.map((l, i) => ({ layer: `${i + 1} ${l.node}`, bits: l.bits }));
  parts.push(
    await figure(
      barChart(
        rows,
        { field: 'layer', title: 'weight, input to output', sort: rows.map((r) => r.layer) },
        { field: 'bits', title: 'bits' },
        { width: Math.max(420, 14 * rows.length), height: 160 },
      ),
      'Each weight’s width along the model’s depth.',
    ),
  );
  const lower = w.choices.slice(1);
  parts.push(
    table(
      ['weight', 'bits', 'bytes', ...lower.map((b) => `rise at ${b} bits`)],
      w.layers.map((l) => [
        l.node,
        l.bits,
        Math.round(l.bytes),
        ...lower.map((b) => (l.rise[b] === undefined ? '—' : l.rise[b].toExponential(2))),
      ]),
      [false, true, true, ...lower.map(() => true)],
    ),
  );
  return parts.join('\n');
}
