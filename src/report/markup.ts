// The HTML pieces report.html is built of: escaped text, percentages, tables and captioned figures.
import { renderSvg } from './plots.js';

export const escape = (s: unknown) =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
/** A share as a percentage; '—' where there is none (top-1 of unlabeled images). */
export const pct = (x: number | null) => (x === null ? '—' : `${(100 * x).toFixed(2)}%`);

export function table(head: string[], rows: (string | number)[][], numeric: boolean[] = []): string {
  const cell = (tag: string, v: string | number, i: number) =>
    `<${tag}${numeric[i] ? ' class="num"' : ''}>${escape(v)}</${tag}>`;
  return `<table><thead><tr>${head.map((h, i) => cell('th', h, i)).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((v, i) => cell('td', v, i)).join('')}</tr>`).join('')}</tbody></table>`;
}

export function figureHtml(svg: string, caption: string): string {
  return `<figure class="plot">${svg}<figcaption>${escape(caption)}</figcaption></figure>`;
}

export async function figure(spec: Parameters<typeof renderSvg>[0], caption: string): Promise<string> {
  return figureHtml(await renderSvg(spec), caption);
}
