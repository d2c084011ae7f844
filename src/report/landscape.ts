// The landscape's figures, rendered once: written as SVG files beside landscape.json and inlined in report.html.
import type { LandscapeFile } from './types.js';
import { LANDSCAPE_MEASURES, lowerIsBetter, type LandscapeMeasure } from '../landscape/landscape.js';
import { facetLines, heatmap, renderSvg } from './plots.js';

export interface Figure {
  /** The SVG file's name in the output folder. */
  file: string;
  svg: string;
  caption: string;
}

export const MEASURE_LABEL: Record<LandscapeMeasure, string> = {
  infonce: 'infoNCE',
  mse: 'MSE',
  kl: 'KL',
  top1: 'top-1 error',
};

/** The line (every measure, one panel each) and, with a grid, one heat map per measure. */
export async function landscapeFigures(l: LandscapeFile): Promise<Figure[]> {
  const rows = l.line.flatMap((p) =>
    LANDSCAPE_MEASURES.map((k) => ({ step: p.a, measure: MEASURE_LABEL[k], value: lowerIsBetter(p, k) })),
  );
  const figures: Figure[] = [
    {
      file: 'landscape-line.svg',
      svg: await renderSvg(
        facetLines(
          rows,
          { field: 'step', title: 'relative step t' },
          { field: 'value', title: 'value' },
          { field: 'measure', title: '', sort: LANDSCAPE_MEASURES.map((k) => MEASURE_LABEL[k]) },
          { title: `Along a random direction: s · (1 + t·d), ${l.line.length} points` },
        ),
      ),
      caption: `Unit ${l.unit.index} (${l.unit.name}, ${l.unit.points.length} points, ${l.dimensions} scales) at W${l.settings.wBits}A${l.settings.aBits}; losses on ${l.settings.calibImages} calibration images, top-1 on ${l.settings.evalImages} evaluation images.`,
    },
  ];
  if (l.grid) {
    for (const key of LANDSCAPE_MEASURES) {
      const values = l.grid.values.map((p) => ({ a: p.a, b: p.b, value: lowerIsBetter(p, key) }));
      figures.push({
        file: `landscape-grid-${key}.svg`,
        svg: await renderSvg(
          heatmap(
            values,
            { field: 'a', title: 'step along d₁' },
            { field: 'b', title: 'step along d₂' },
            { field: 'value', title: MEASURE_LABEL[key] },
            { title: `${MEASURE_LABEL[key]} on a ${l.grid.size}×${l.grid.size} grid` },
          ),
        ),
        caption: `${MEASURE_LABEL[key]}: ${l.roughness[key].gridLocalMinima ?? 0} interior local minima on the grid.`,
      });
    }
  }
  return figures;
}
