// The Search section of report.html: which result was kept and why, every pass on the holdout images, the
// trajectory plots, and how far each layer's scales moved.
import type { QuantizeReport } from './types.js';
import { escape, figure, pct, table } from './markup.js';
import { barChart, lineChart } from './plots.js';
import type { StartName } from '../search/start.js';
import type { SearchState } from '../search/state.js';
import { keptName, type HoldoutScore } from '../search/selection.js';

type Search = NonNullable<QuantizeReport['search']>;

const START_WORDS: Record<StartName, string> = {
  baseline: 'the baseline',
  corrected: 'the baseline with the data-free weight correction',
  fitted: "the baseline with the data-free weight correction and the LayerNorm inputs' PTF refitted",
};

/** The section; without a search, one sentence saying so. */
export async function searchSection(r: QuantizeReport): Promise<string> {
  const s = r.settings;
  const search = r.search;
  if (!search) {
    return `<h2>Search</h2><p class="note">No search: <code>--method ${escape(s.method)}</code> keeps the calibrated baseline scales.</p>`;
  }
  const measureTitle = search.select === 'loss' ? `holdout ${s.loss} loss` : `holdout ${search.select}`;
  const plots = [
    keptParagraph(search, s.loss),
    passTable(search, measureTitle),
    ...(await trajectoryFigures(r, search, measureTitle)),
  ];
  if (r.scaleMovement?.length) plots.push(await scaleMovementFigure(r.scaleMovement));
  return `<h2>Search</h2>${plots.join('\n')}`;
}

/** Which result was kept and why, and where the passes started from. */
function keptParagraph(search: Search, loss: string): string {
  return `<p><strong>Kept: ${escape(keptName(search))}.</strong> ${escape(search.why)}.
     Passes started from ${START_WORDS[search.start.chosen]}${
       search.start.fitness
         ? ` (chosen by <code>--start auto</code>, calibration ${escape(loss)}: ${Object.entries(search.start.fitness)
             .map(([n, f]) => `${escape(n)} ${f.toPrecision(5)}`)
             .join(', ')})`
         : ''
     }.${outputCorrectionSentence(search.start.outputCorrection, loss)}</p>`;
}

/** One row per pass on the holdout images (the unsearched start after the baseline), the kept one marked. */
function passTable(search: Search, measureTitle: string): string {
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
  return table(
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
  );
}

/** The selection measure and holdout top-1 per pass, and the fitness each unit gained. */
async function trajectoryFigures(r: QuantizeReport, search: Search, measureTitle: string): Promise<string[]> {
  const s = r.settings;
  const perPass = search.holdout.map((h) => ({ pass: h.pass, measure: h.measure, top1: 100 * (h.top1 ?? NaN) }));
  // Unlabeled holdout images have no top-1 to plot.
  const labeled = search.holdout.every((h) => h.top1 !== null);
  const gains = new Map<string, number>();
  for (const t of search.trajectory) gains.set(t.name, (gains.get(t.name) ?? 0) + (t.before - t.after));
  const order = [...new Set(search.trajectory.map((t) => t.name))].reverse();
  return [
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
    ...(labeled
      ? [
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
        ]
      : []),
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
}

function scaleMovementFigure(movement: QuantizeReport['scaleMovement']): Promise<string> {
  return figure(
    barChart(
      movement.map((m) => ({ point: m.point, change: 100 * m.meanRelativeChange, kind: m.kind })),
      { field: 'point', title: 'quant point', sort: movement.map((m) => m.point) },
      { field: 'change', title: 'mean |Δs / s| (%)' },
      {
        title: "How far each layer's scales moved",
        width: Math.max(420, 14 * movement.length),
        color: { field: 'kind', title: 'kind' },
      },
    ),
    "Mean relative change of each searched point's scales, Evol-Q against the calibrated baseline.",
  );
}

/** What racing saved and why the search stopped early: ", of which N stopped early (…); 2 of 10 passes: …". */
function raced(search: Search): string {
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

/** One sentence on `--output-correction`, when the search ran it. */
function outputCorrectionSentence(c: SearchState['start']['outputCorrection'], loss: string): string {
  if (!c) return '';
  const firstToken = c.firstToken ? `, ${c.firstToken} of them with the first token apart` : '';
  return ` The output correction of ${c.layers} layers (their mean outputs moved onto the float model's on ${c.images} calibration images${firstToken}) took the start's calibration ${escape(loss)} from ${c.before.toPrecision(5)} to ${c.after.toPrecision(5)}: ${c.kept ? 'kept' : 'dropped, since it did not lower it'}.`;
}
