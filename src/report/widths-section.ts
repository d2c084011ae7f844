// The Widths section of report.html (a width budget): the holdout measure against model.onnx's size for every
// uniform width and the chosen widths (and against latency, where they were timed), each weight's width along the
// model's depth, and a table.
import type { QuantizeReport } from './types.js';
import { FLOAT_WIDTH, widthName } from '../quant/scheme.js';
import { escape, figure, table } from './markup.js';
import { barChart } from './plots.js';
import type { TopLevelSpec } from 'vega-lite';

type Widths = NonNullable<QuantizeReport['widths']>;

const mib = (bytes: number) => (bytes / 1024 ** 2).toFixed(3);

interface FrontPoint {
  model: string;
  x: number;
  measure: number;
}

/** Holdout measure against size or latency: one point per model measured, the budget as a rule. */
function frontSpec(values: FrontPoint[], x: { title: string; budget: number }, measure: string): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: 380,
    height: 220,
    layer: [
      {
        data: { values },
        mark: { type: 'point', filled: true, size: 80 },
        encoding: {
          x: { field: 'x', type: 'quantitative', title: x.title, scale: { zero: false } },
          y: { field: 'measure', type: 'quantitative', title: measure, scale: { type: 'log' } },
          color: { field: 'model', type: 'nominal', title: null },
        },
      },
      {
        data: { values: [{ budget: x.budget }] },
        mark: { type: 'rule', strokeDash: [4, 3], color: '#888' },
        encoding: { x: { field: 'budget', type: 'quantitative' } },
      },
    ],
  } as TopLevelSpec;
}

/** The plots of the holdout measure: against size always, and against latency where the models were timed. */
async function frontFigures(w: Widths): Promise<string[]> {
  const holdout = w.holdout!;
  const measure = `holdout ${holdout.measure} to float`;
  const uniform = w.uniform.filter((u) => u.holdout !== null);
  const chosen = { model: 'chosen widths', measure: holdout.assignment };
  const sizes = [
    ...uniform.map((u) => ({ model: `uniform ${widthLabel(u.bits)}`, x: u.bytes / 1024 ** 2, measure: u.holdout! })),
    { ...chosen, x: w.bytes / 1024 ** 2 },
  ];
  const { budget } = w;
  const figures = [
    await figure(
      frontSpec(
        sizes,
        { title: 'model.onnx (MiB)', budget: (budget.kind === 'size' ? budget.bytes : w.bytes) / 1024 ** 2 },
        measure,
      ),
      `Holdout ${holdout.measure} to float (${holdout.images} images, log scale) against model.onnx's size, before the search${budget.kind === 'size' ? '; the dashed line is the budget' : ''}.`,
    ),
  ];
  if (!w.floatMs || w.ms === undefined) return figures;
  const times = [
    ...uniform
      .filter((u) => u.ms !== undefined)
      .map((u) => ({ model: `uniform ${widthLabel(u.bits)}`, x: u.ms! / w.floatMs!, measure: u.holdout! })),
    { ...chosen, x: w.ms / w.floatMs },
  ];
  const rule = budget.kind === 'latency' ? budget.fraction : 1;
  figures.push(
    await figure(
      frontSpec(times, { title: "latency at batch 1 (fraction of float's)", budget: rule }, measure),
      `Holdout ${holdout.measure} to float against model.onnx's latency at batch 1 on this machine (timed beside each other), as a fraction of the float model's (which is at 1, with no error); the dashed line is ${budget.kind === 'latency' ? 'the budget' : 'float'}.`,
    ),
  );
  return figures;
}

const widthLabel = (bits: number) => (bits === FLOAT_WIDTH ? 'float' : `${bits}-bit`);

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
      : budget.kind === 'latency'
        ? `, running at ${budget.measured.toFixed(2)} of the float model's latency at batch 1 on this machine (budget: ${budget.fraction})`
        : `, the smallest the bisection found whose top-1 agrees with float's on all but ${budget.points}% of the ${budget.images} holdout images`;
  const parts = [
    `<h2>Widths</h2><p><strong>Kept: ${escape(kept)}</strong>: model.onnx ${mib(w.bytes)} MiB ${escape(within)} (${(w.bytes / w.floatBytes).toFixed(3)} of float), from widths ${escape(w.choices.map(widthName).join(', '))}.${
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
  if (budget.kind === 'latency' && budget.tried.length)
    parts.push(
      table(
        ['try', 'predicted latency (of float)', 'measured'],
        budget.tried.map((t, i) => [i + 1, t.predicted.toFixed(3), t.measured.toFixed(3)]),
        [true, true, true],
      ),
    );
  if (w.holdout) parts.push(...(await frontFigures(w)));
  const rows = w.layers.map((l, i) => ({ layer: `${i + 1} ${l.node}`, bits: l.bits }));
  parts.push(
    await figure(
      barChart(
        rows,
        { field: 'layer', title: 'weight, input to output', sort: rows.map((r) => r.layer) },
        { field: 'bits', title: 'bits (float: 32)' },
        { width: Math.max(420, 14 * rows.length), height: 160 },
      ),
      'Each weight’s width along the model’s depth.',
    ),
  );
  const others = w.choices.filter((b) => w.layers.some((l) => l.rise[b] !== undefined));
  const timed = w.layers.some((l) => l.ms);
  const ms = (t: number | undefined) => (t === undefined ? '—' : t.toFixed(3));
  parts.push(
    table(
      [
        'weight',
        'bits',
        'bytes',
        ...others.map((b) => `rise at ${widthLabel(b)}`),
        ...(timed ? ['float ms', 'integer ms'] : []),
      ],
      w.layers.map((l) => [
        l.node,
        widthName(l.bits),
        Math.round(l.bytes),
        ...others.map((b) => (l.rise[b] === undefined ? '—' : l.rise[b].toExponential(2))),
        ...(timed ? [ms(l.ms?.float), ms(l.ms?.integer)] : []),
      ]),
      [false, true, true, ...others.map(() => true), ...(timed ? [true, true] : [])],
    ),
  );
  return parts.join('\n');
}
