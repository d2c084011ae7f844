// Plots as SVG strings, rendered in Node by Vega-Lite → Vega (no browser, no canvas: the 'none' renderer).
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

type Row = Record<string, number | string>;

const CONFIG = {
  font: 'system-ui, sans-serif',
  view: { stroke: '#ddd' },
  axis: { labelFontSize: 11, titleFontSize: 12 },
  legend: { labelFontSize: 11 },
};

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile({ config: CONFIG, ...spec } as TopLevelSpec).spec), {
    renderer: 'none',
  });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** One line per series (`series` names the column that tells them apart), points marked. */
export function lineChart(
  values: Row[],
  x: { field: string; title: string },
  y: { field: string; title: string; zero?: boolean },
  series?: { field: string; title: string },
  options: { title?: string; width?: number; height?: number; independentY?: boolean } = {},
): TopLevelSpec {
  const encoding = {
    x: { field: x.field, type: 'quantitative', title: x.title },
    y: { field: y.field, type: 'quantitative', title: y.title, scale: { zero: y.zero ?? false } },
    ...(series ? { color: { field: series.field, type: 'nominal', title: series.title } } : {}),
  };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    ...(options.title ? { title: options.title } : {}),
    width: options.width ?? 420,
    height: options.height ?? 220,
    data: { values },
    mark: { type: 'line', point: true },
    encoding,
  } as TopLevelSpec;
}

/** Small multiples: one line chart per value of `facet`, each with its own y scale. */
export function facetLines(
  values: Row[],
  x: { field: string; title: string },
  y: { field: string; title: string },
  facet: { field: string; title: string; sort?: string[] },
  options: { title?: string; columns?: number } = {},
): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    ...(options.title ? { title: options.title } : {}),
    data: { values },
    facet: { field: facet.field, type: 'nominal', title: facet.title, ...(facet.sort ? { sort: facet.sort } : {}) },
    columns: options.columns ?? 2,
    spec: {
      width: 300,
      height: 160,
      mark: { type: 'line', point: { size: 18 } },
      encoding: {
        x: { field: x.field, type: 'quantitative', title: x.title },
        y: { field: y.field, type: 'quantitative', title: y.title, scale: { zero: false } },
      },
    },
    resolve: { scale: { y: 'independent' } },
  } as TopLevelSpec;
}

export function barChart(
  values: Row[],
  x: { field: string; title: string; sort?: string[] },
  y: { field: string; title: string },
  options: { title?: string; width?: number; height?: number; color?: { field: string; title: string } } = {},
): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    ...(options.title ? { title: options.title } : {}),
    width: options.width ?? 420,
    height: options.height ?? 220,
    data: { values },
    mark: { type: 'bar' },
    encoding: {
      x: { field: x.field, type: 'nominal', title: x.title, sort: x.sort ?? null, axis: { labelAngle: -45 } },
      y: { field: y.field, type: 'quantitative', title: y.title },
      ...(options.color ? { color: { field: options.color.field, type: 'nominal', title: options.color.title } } : {}),
    },
  } as TopLevelSpec;
}

/** A heat map of `value` over a grid of (x, y) steps. */
export function heatmap(
  values: Row[],
  x: { field: string; title: string },
  y: { field: string; title: string },
  value: { field: string; title: string },
  options: { title?: string; size?: number } = {},
): TopLevelSpec {
  // An ordinal axis labels every cell: keep about five labels, the ends and the middle among them.
  const ticks = (field: string) => {
    const all = [...new Set(values.map((v) => v[field]))];
    const every = Math.max(1, Math.floor((all.length - 1) / 4));
    return all.filter((_, i) => i % every === 0 || i === all.length - 1);
  };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    ...(options.title ? { title: options.title } : {}),
    width: options.size ?? 240,
    height: options.size ?? 240,
    data: { values },
    mark: { type: 'rect' },
    encoding: {
      x: {
        field: x.field,
        type: 'ordinal',
        title: x.title,
        axis: { format: '.3f', labelAngle: -45, values: ticks(x.field) },
      },
      y: {
        field: y.field,
        type: 'ordinal',
        title: y.title,
        sort: 'descending',
        axis: { format: '.3f', values: ticks(y.field) },
      },
      color: { field: value.field, type: 'quantitative', title: value.title, scale: { scheme: 'viridis' } },
    },
  } as TopLevelSpec;
}
