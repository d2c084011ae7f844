// OUT/report.html: one self-contained page (inline CSS and SVG, no scripts, no network) with the settings,
// the accuracy table, the search trajectory, how far each layer's scales moved, and the landscape when present.
import type { QuantizeReport, LandscapeFile, ScoredAccuracy } from './types.js';
import { LANDSCAPE_MEASURES } from '../landscape/landscape.js';
import { MEASURE_LABEL, type Figure } from './landscape.js';
import { layerKernels } from '../export/kernels.js';
import { barChart, lineChart, renderSvg } from './plots.js';
import type { StartName } from '../search/start.js';
import type { SearchState } from '../search/state.js';
import { keptName, type HoldoutScore } from '../search/selection.js';

const START_WORDS: Record<StartName, string> = {
  baseline: 'the baseline',
  corrected: 'the baseline with the data-free weight correction',
  fitted: "the baseline with the data-free weight correction and the LayerNorm inputs' PTF refitted",
};

const CSS = `
body { font: 14px/1.45 system-ui, sans-serif; color: #222; max-width: 1100px; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
table { border-collapse: collapse; margin: .5rem 0; } td, th { padding: .2rem .7rem; border-bottom: 1px solid #eee; text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { display: inline-block; margin: .5rem 1rem .5rem 0; vertical-align: top; } figcaption { color: #555; font-size: .9em; max-width: 460px; }
.note { color: #555; } code { background: #f4f4f4; padding: 0 .2rem; }
`;

const escape = (s: unknown) =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

/** What racing saved and why the search stopped early: ", of which N stopped early (…); 2 of 10 passes: …". */
function raced(search: NonNullable<QuantizeReport['search']>): string {
  const stopped = search.stopped
    ? `, of which racing stopped ${search.stopped} early (${search.forwards.suffixEquivalent.toFixed(1)} whole suffix evaluations run of ${search.forwards.suffix})`
    : '';
  const budget = search.macs
    ? `; ${(search.macs.spent / 1e12).toFixed(2)} T multiply-accumulates spent${search.macs.budget ? ` of a ${(search.macs.budget / 1e12).toFixed(0)} T budget` : ''}`
    : '';
  const why =
    search.stoppedBy === 'budget'
      ? `; ${search.passesRun} of ${search.passes} passes: another would have gone over the search budget`
      : search.stoppedBy === 'patience'
        ? `; ${search.passesRun} of ${search.passes} passes: the holdout measure stopped improving`
        : '';
  return stopped + budget + why;
}

function table(head: string[], rows: (string | number)[][], numeric: boolean[] = []): string {
  const cell = (tag: string, v: string | number, i: number) =>
    `<${tag}${numeric[i] ? ' class="num"' : ''}>${escape(v)}</${tag}>`;
  return `<table><thead><tr>${head.map((h, i) => cell('th', h, i)).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((v, i) => cell('td', v, i)).join('')}</tr>`).join('')}</tbody></table>`;
}

function figureHtml(svg: string, caption: string): string {
  return `<figure class="plot">${svg}<figcaption>${escape(caption)}</figcaption></figure>`;
}

async function figure(spec: Parameters<typeof renderSvg>[0], caption: string): Promise<string> {
  return figureHtml(await renderSvg(spec), caption);
}

async function quantizeSections(r: QuantizeReport): Promise<string[]> {
  const s = r.settings;
  const settings: [string, unknown][] = [
    ['model', s.model],
    ['calibration images', `${s.calib} (${s.calibSize} drawn, ${s.holdout} holdout, seed ${s.seed})`],
    ['weights / activations', `W${s.wBits}A${s.aBits}`],
    ['method', s.method],
    ['observer', s.observer],
    [
      'PTF / log2 softmax / bias correction',
      `${s.ptf ? 'yes' : 'no'} / ${s.lis ? 'yes' : 'no'} / ${s.biasCorrection ? 'yes' : 'no'}`,
    ],
    ...(s.method === 'evolq'
      ? [
          [
            'search',
            `${s.passes} passes, ${s.cycles} cycles, population ${s.population}, ${s.loss} loss (T = ${s.temperature}), ${s.mutation} mutation, ${s.searchSpace} units, start ${s.start}`,
          ] as [string, unknown],
        ]
      : []),
    ['evaluated on', `${r.evaluatedOn.n} images of ${r.evaluatedOn.images}`],
    ['time', `${r.timing.total.toFixed(1)} s`],
  ];
  const accuracy: [string, ScoredAccuracy][] = [
    ['float', r.fp],
    [`W${s.wBits}A${s.aBits} baseline (simulated)`, r.baseline],
  ];
  if (r.evolq) accuracy.push([`W${s.wBits}A${s.aBits} Evol-Q (simulated)`, r.evolq]);
  accuracy.push(['model.onnx (exported)', r.exported]);
  const e = r.exported;
  const floatKinds = [...new Set(e.floatSubgraphs.map((f) => f.kind))].join(', ') || 'none';
  const sections = [
    `<h2>Settings</h2>${table(
      ['setting', 'value'],
      settings.map(([k, v]) => [k, String(v)]),
    )}`,
    `<h2>Accuracy</h2>${table(
      ['model', 'top-1', 'top-5', 'KL of float from it', 'agrees with float top-1'],
      accuracy.map(([k, a]) => [
        k,
        pct(a.top1),
        pct(a.top5),
        a.toFloat ? a.toFloat.kl.toPrecision(4) : '',
        a.toFloat ? pct(a.toFloat.agreement) : '',
      ]),
      [false, true, true, true, true],
    )}
     <p class="note">model.onnx: ${(e.bytes / 1e6).toFixed(2)} MB, ${(100 * e.sizeRatio).toFixed(1)}% of the float model; opset ${e.opset};
     ${Object.entries(e.weights)
       .filter(([, w]) => w.tensors > 0)
       .map(([t, w]) => `${w.tensors} ${t}`)
       .join(' and ')} weight tensors; ${e.floatSubgraphs.length} float subgraphs
     (${escape(floatKinds)}). onnxruntime-node (CPU) runs its layers as: ${escape(layerKernels(e.kernels))}.</p>`,
  ];
  const search = r.search;
  if (!search) {
    sections.push(
      `<h2>Search</h2><p class="note">No search: <code>--method ${escape(s.method)}</code> keeps the calibrated baseline scales.</p>`,
    );
    return sections;
  }
  const measureTitle = search.select === 'loss' ? `holdout ${s.loss} loss` : `holdout ${search.select}`;
  const perPass = search.holdout.map((h) => ({ pass: h.pass, measure: h.measure, top1: 100 * h.top1 }));
  const gains = new Map<string, number>();
  for (const t of search.trajectory) gains.set(t.name, (gains.get(t.name) ?? 0) + (t.before - t.after));
  const order = [...new Set(search.trajectory.map((t) => t.name))].reverse();
  const row = (name: string | number, h: HoldoutScore, kept: boolean) => {
    const v = h.versusBaseline;
    return [
      name,
      h.measure.toPrecision(5),
      v ? `${v.difference.toPrecision(3)} ± ${v.standardError.toPrecision(2)}` : '',
      v ? `${(100 * v.notBetter).toFixed(1)}%` : '',
      pct(h.top1),
      pct(h.agreement),
      kept ? 'kept' : '',
    ];
  };
  const startHoldout = search.start.holdout;
  const passRows = search.holdout.map((h) =>
    row(h.pass === 0 ? 'baseline' : h.pass, h, h.pass === search.keptPass && !search.keptStart),
  );
  if (startHoldout)
    passRows.splice(1, 0, row(`start (${search.start.chosen}, unsearched)`, startHoldout, search.keptStart));
  const plots = [
    `<p><strong>Kept: ${escape(keptName(search))}.</strong> ${escape(search.why)}.
     Passes started from ${START_WORDS[search.start.chosen]}${
       search.start.fitness
         ? ` (chosen by <code>--start auto</code>, calibration ${escape(s.loss)}: ${Object.entries(search.start.fitness)
             .map(([n, f]) => `${escape(n)} ${f.toPrecision(5)}`)
             .join(', ')})`
         : ''
     }.${outputCorrectionSentence(search.start.outputCorrection, s.loss)}</p>`,
    table(
      [
        'pass',
        measureTitle,
        'against the baseline (mean ± se)',
        'bootstrap: not better',
        'holdout top-1',
        'agrees with float',
      ],
      passRows,
      [false, true, true, true, true, true, false],
    ),
    await figure(
      lineChart(
        perPass,
        { field: 'pass', title: 'pass (0 = baseline)' },
        { field: 'measure', title: measureTitle },
        undefined,
        { title: 'Selection measure per pass' },
      ),
      `The measure the kept result is chosen by, on ${r.settings.holdout} holdout images (lower is better).`,
    ),
    await figure(
      lineChart(
        perPass,
        { field: 'pass', title: 'pass (0 = baseline)' },
        { field: 'top1', title: 'holdout top-1 (%)' },
        undefined,
        { title: 'Holdout accuracy per pass' },
      ),
      "Top-1 against the holdout images' labels: reported, not used to choose.",
    ),
    await figure(
      barChart(
        [...gains].map(([unit, gain]) => ({ unit, gain })),
        { field: 'unit', title: 'unit', sort: order },
        { field: 'gain', title: `fitness gain (${s.loss}, summed over passes)` },
        { title: 'Fitness gain per unit' },
      ),
      `${search.evaluations} evaluations in ${search.seconds.toFixed(1)} s${raced(search)}.`,
    ),
  ];
  if (r.scaleMovement?.length) {
    plots.push(
      await figure(
        barChart(
          r.scaleMovement.map((m) => ({ point: m.point, change: 100 * m.meanRelativeChange, kind: m.kind })),
          { field: 'point', title: 'quant point', sort: r.scaleMovement.map((m) => m.point) },
          { field: 'change', title: 'mean |Δs / s| (%)' },
          {
            title: "How far each layer's scales moved",
            width: Math.max(420, 14 * r.scaleMovement.length),
            color: { field: 'kind', title: 'kind' },
          },
        ),
        "Mean relative change of each searched point's scales, Evol-Q against the calibrated baseline.",
      ),
    );
  }
  sections.push(`<h2>Search</h2>${plots.join('\n')}`);
  return sections;
}

function landscapeSection(l: LandscapeFile, figures: readonly Figure[]): string {
  const rough = table(
    ['measure', 'local minima on the line', 'total variation / range', 'local minima on the grid'],
    LANDSCAPE_MEASURES.map((k) => [
      MEASURE_LABEL[k],
      l.roughness[k].localMinima,
      l.roughness[k].normalizedVariation.toFixed(2),
      l.roughness[k].gridLocalMinima ?? '-',
    ]),
    [false, true, true, true],
  );
  const plots = figures.map((f) => figureHtml(f.svg, f.caption));
  return `<h2>Loss landscape</h2><p class="note">Roughness: a smooth bowl has 1 local minimum and total variation / range ≤ 2; every extra wiggle adds to both.</p>${rough}${plots.join('\n')}`;
}

/** The page for a quantize report, a landscape (with its rendered figures), or both. */
export async function reportHtml(inputs: {
  report?: QuantizeReport;
  landscape?: { data: LandscapeFile; figures: readonly Figure[] };
}): Promise<string> {
  const title = inputs.report
    ? `evolq: ${inputs.report.settings.model} at W${inputs.report.settings.wBits}A${inputs.report.settings.aBits}`
    : `evolq landscape: ${inputs.landscape?.data.settings.model ?? ''}`;
  const sections = [
    ...(inputs.report ? await quantizeSections(inputs.report) : []),
    ...(inputs.landscape ? [landscapeSection(inputs.landscape.data, inputs.landscape.figures)] : []),
  ];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title><style>${CSS}</style></head>
<body><h1>${escape(title)}</h1>
${sections.join('\n')}
<p class="note">Written by evolq on ${escape(new Date().toISOString())}. Plots rendered with Vega-Lite.</p>
</body></html>
`;
}

/** One sentence on `--output-correction`, when the search ran it. */
function outputCorrectionSentence(c: SearchState['start']['outputCorrection'], loss: string): string {
  if (!c) return '';
  const firstToken = c.firstToken ? `, ${c.firstToken} of them with the first token apart` : '';
  return ` The output correction of ${c.layers} layers (their mean outputs moved onto the float model's on ${c.images} calibration images${firstToken}) took the start's calibration ${escape(loss)} from ${c.before.toPrecision(5)} to ${c.after.toPrecision(5)}: ${c.kept ? 'kept' : 'dropped, since it did not lower it'}.`;
}
