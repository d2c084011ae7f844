// Where the search starts. The kept result is still chosen against the baseline (selection.ts), so a start
// only has to be a better place to search from, not better than the baseline by itself.
import type { Graph } from '../onnx/graph.js';
import type { QuantPoint } from '../quant/points.js';
import { channelStats, type QuantParams } from '../quant/scheme.js';
/**
 * Where the search starts: the baseline, the baseline with the data-free weight correction (`corrected`), that
 * and each LayerNorm input's PTF refitted to what the LayerNorm reads, a PTF on each activation only MatMuls
 * read and below 8 bits the softmax on the log√2 quantizer (`fitted`), or (`auto`) whichever has the lower
 * fitness on the calibration images (`fitted` among them with activations below 8 bits).
 */
export const SEARCH_STARTS = ['baseline', 'corrected', 'fitted', 'auto'] as const;
export type SearchStart = (typeof SEARCH_STARTS)[number];

export type StartName = Exclude<SearchStart, 'auto'>;
/** The starts `--start auto` chooses among, in order (the first wins a tie). */
export const START_NAMES = SEARCH_STARTS.filter((s): s is StartName => s !== 'auto');

/**
 * `fitted` below 8 bits: the softmax on a log quantizer with two levels per octave (x̂ = 2^−q/2, RepQ-ViT's log√2),
 * whose 16 levels at 4 bits reach 2^−7.5 where a uniform scale rounds most attention weights to 0
 * (its calibration KL against uniform and log2: docs/notes/search.md).
 */
export const LOG_SOFTMAX_STEPS = 2;

/**
 * Whether `--start auto` also tries `fitted`: with activations below 8 bits, where the LayerNorm inputs' error
 * dominates (docs/notes/search.md); at 8 bits the FQ-ViT PTF stays, and with it the choice measured there.
 */
export function autoTriesFitted(aBits: number, ptf: boolean): boolean {
  return ptf && aBits < 8;
}

/**
 * The params the search starts from: the baseline's (`baseline`), or with the Evol-Q code's data-free weight
 * correction on every per-channel weight (`corrected`: in every forward, after every mutation, each output
 * channel of the dequantized weight gets the float weight's mean and standard deviation; see
 * `--weight-correction`), or that and the PTF of every LayerNorm input refitted to what the LayerNorm reads, and
 * every activation that only MatMuls read given a PTF of its own (`fitted`, from calibration's `refittedPtf`), and
 * below 8 bits every uniform softmax quantizer replaced by the log√2 one (LOG_SOFTMAX_STEPS).
 * Blocked weights, which the export cannot correct, and the other activation quantizers stay as calibrated.
 */
export function startParams(
  graph: Graph,
  points: readonly QuantPoint[],
  baseParams: Readonly<Record<string, QuantParams>>,
  start: StartName,
  refittedPtf?: Readonly<Record<string, QuantParams>>,
): Record<string, QuantParams> {
  const params = { ...baseParams };
  if (start === 'baseline') return params;
  if (start === 'fitted') {
    if (!refittedPtf) throw new Error('--start fitted: calibration did not refit PTF (CalibrationOptions.ptfRefit)');
    for (const [id, refit] of Object.entries(refittedPtf)) {
      const p = baseParams[id];
      if (p?.kind !== 'uniform' || refit.kind !== 'uniform') continue;
      params[id] = { ...p, scale: refit.scale, zeroPoint: refit.zeroPoint, channelFactor: refit.channelFactor };
    }
    for (const point of points) {
      const p = baseParams[point.id];
      if (point.kind === 'softmax' && p?.kind === 'uniform' && p.bits < 8)
        params[point.id] = { kind: 'log2', bits: p.bits, steps: LOG_SOFTMAX_STEPS };
    }
  }
  for (const point of points) {
    const p = baseParams[point.id];
    if (point.kind !== 'weight' || p?.kind !== 'uniform' || p.block || p.correction || p.axis === null) continue;
    const value = graph.constantValue(point.tensor);
    if (!value) continue;
    params[point.id] = { ...p, correction: channelStats(value.values, value.dims, point.channelAxis!) };
  }
  return params;
}

/**
 * The start's params: the one asked for, or with `auto` the candidate with the lowest calibration fitness (the
 * earlier in `candidates` on a tie), with each candidate's fitness.
 */
export async function chooseStart(
  asked: SearchStart,
  candidates: readonly StartName[],
  paramsOf: (name: StartName) => Record<string, QuantParams>,
  fitnessOf: (params: Record<string, QuantParams>) => Promise<number>,
): Promise<{ name: StartName; params: Record<string, QuantParams>; fitness?: Partial<Record<StartName, number>> }> {
  if (asked !== 'auto') return { name: asked, params: paramsOf(asked) };
  const fitness: Partial<Record<StartName, number>> = {};
  let best: { name: StartName; params: Record<string, QuantParams> } | undefined;
  for (const name of candidates) {
    const params = paramsOf(name);
    fitness[name] = await fitnessOf(params);
    if (!best || fitness[name]! < fitness[best.name]!) best = { name, params };
  }
  return { ...best!, fitness };
}
