// OUT/report.html: one self-contained page (inline CSS and SVG, no scripts, no network) with the settings,
// the accuracy table, the search trajectory, how far each layer's scales moved, and the landscape when present.
import type { QuantizeReport, LandscapeFile, ScoredAccuracy } from './types.js';
import { LANDSCAPE_MEASURES } from '../landscape/landscape.js';
import { MEASURE_LABEL, type Figure } from './landscape.js';
import { layerKernels } from '../export/kernels.js';
import { escape, figureHtml, table } from './markup.js';
import { settingLabel, weightLevelNote } from '../quant/scheme.js';
import { searchSection } from './search-section.js';
import { widthsSection } from './widths-section.js';
import { speedTable, warningsList } from './speed-section.js';
import { accuracyColumns } from './accuracy-columns.js';

const CSS = `
body { font: 14px/1.45 system-ui, sans-serif; color: #222; max-width: 1100px; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
table { border-collapse: collapse; margin: .5rem 0; } td, th { padding: .2rem .7rem; border-bottom: 1px solid #eee; text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { display: inline-block; margin: .5rem 1rem .5rem 0; vertical-align: top; } figcaption { color: #555; font-size: .9em; max-width: 460px; }
.note { color: #555; } code { background: #f4f4f4; padding: 0 .2rem; }
`;

/** Settings, Accuracy and Search: the sections of a quantize report. */
async function quantizeSections(r: QuantizeReport): Promise<string[]> {
  // Reports written before warnings were recorded have none.
  const verdict = r.verdict ? [`<p class="verdict"><strong>${escape(r.verdict.text)}</strong></p>`] : [];
  return [
    ...verdict,
    warningsList(r.warnings ?? []),
    settingsSection(r),
    accuracySection(r),
    await widthsSection(r),
    await searchSection(r),
    filesSection(r),
  ];
}

/** What each file of OUT is for, and its size (reports written before sizes were recorded list names only). */
function filesSection(r: QuantizeReport): string {
  const rows = (r.files ?? []).map((f) =>
    typeof f === 'string'
      ? [f, '', '']
      : [f.name, f.bytes === null ? '' : `${(f.bytes / 1e6).toFixed(2)} MB`, f.purpose],
  );
  return `<h2>Files</h2>${table(['file', 'size', 'what it is for'], rows, [false, true])}`;
}

/** The settings the run used, and on which images it was evaluated. */
function settingsSection(r: QuantizeReport): string {
  const s = r.settings;
  const settings: [string, unknown][] = [
    ['model', s.model],
    ['calibration images', `${s.calib} (${s.calibSize} drawn, ${s.holdout} holdout, seed ${s.seed})`],
    ['weights / activations', `${settingLabel(s)}${weightLevelNote(s)}`],
    ...(r.exported.floatLayers.length
      ? [
          ['layers kept float', r.exported.floatLayers.map((l) => `${l.node} (${l.reason})`).join(', ')] as [
            string,
            unknown,
          ],
        ]
      : []),
    ...(r.floatFallback
      ? [
          [
            'float fallback (speed with the class float)',
            r.floatFallback.classes
              .map((c) => `${c.layerClass} ${c.speedup.toFixed(2)}×${c.float ? ' → float' : ''}`)
              .join(', '),
          ] as [string, unknown],
        ]
      : []),
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
  return `<h2>Settings</h2>${table(
    ['setting', 'value'],
    settings.map(([k, v]) => [k, String(v)]),
  )}`;
}

/** The accuracy of every model evaluated, and what model.onnx stores and runs as. */
function accuracySection(r: QuantizeReport): string {
  const s = r.settings;
  const accuracy: [string, ScoredAccuracy][] = [
    ['float', r.fp],
    [`${settingLabel(s)} baseline (simulated)`, r.baseline],
  ];
  if (r.evolq) accuracy.push([`${settingLabel(s)} Evol-Q (simulated)`, r.evolq]);
  accuracy.push(['model.onnx (exported)', r.exported]);
  const e = r.exported;
  const floatKinds = [...new Set(e.floatSubgraphs.map((f) => f.kind))].join(', ') || 'none';
  const columns = accuracyColumns(r.task.task);
  return `<h2>Accuracy</h2>${table(
    columns.long,
    accuracy.map(([k, a]) => [k, ...columns.cells(a)]),
    [false, true, true, true, true],
  )}
     <p class="note">Measured on ${r.evaluatedOn.n} images of ${escape(r.evaluatedOn.images)}; top-1 is of ${escape(r.evaluatedOn.measure)}.</p>
     <p class="note">model.onnx: ${(e.bytes / 1e6).toFixed(2)} MB, ${(100 * e.sizeRatio).toFixed(1)}% of the float model; opset ${e.opset};
     ${Object.entries(e.weights)
       .filter(([, w]) => w.tensors > 0)
       .map(([t, w]) => `${w.tensors} ${t}`)
       .join(' and ')} weight tensors; ${e.floatSubgraphs.length} float subgraphs
     (${escape(floatKinds)}). onnxruntime-node (CPU) runs its layers as: ${escape(layerKernels(e.kernels))}.</p>
     ${e.speed ? speedTable(e.speed) : ''}`;
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
    ? `evolq: ${inputs.report.settings.model} at ${settingLabel(inputs.report.settings)}`
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
