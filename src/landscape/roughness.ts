// How jagged a loss curve or surface is, as numbers: strict local minima (plateaus count once) and the
// total variation normalised by the range (1 for a monotone curve, 2 for a V, more for every extra wiggle).

export interface Roughness {
  /** Interior local minima along the line. */
  localMinima: number;
  /** Σ|f(i+1) − f(i)| / (max f − min f); 0 for a flat line. */
  normalizedVariation: number;
  /** Interior local minima of the 2-D grid (8 neighbours), when a grid was measured. */
  gridLocalMinima?: number;
}

/** Interior local minima of a sequence; a run of equal values counts once, when both its sides are higher. */
export function localMinima(values: readonly number[]): number {
  const runs = values.filter((v, i) => i === 0 || v !== values[i - 1]);
  let count = 0;
  for (let i = 1; i < runs.length - 1; i++) if (runs[i] < runs[i - 1] && runs[i] < runs[i + 1]) count++;
  return count;
}

export function normalizedVariation(values: readonly number[]): number {
  if (values.length < 2) return 0;
  const range = Math.max(...values) - Math.min(...values);
  if (range === 0) return 0;
  let total = 0;
  for (let i = 1; i < values.length; i++) total += Math.abs(values[i] - values[i - 1]);
  return total / range;
}

/** Interior points of a row-major size×size grid lower than all 8 neighbours. */
export function gridLocalMinima(values: readonly number[], size: number): number {
  let count = 0;
  for (let r = 1; r < size - 1; r++) {
    for (let c = 1; c < size - 1; c++) {
      const v = values[r * size + c];
      let lowest = true;
      for (let dr = -1; dr <= 1 && lowest; dr++)
        for (let dc = -1; dc <= 1; dc++) if ((dr || dc) && values[(r + dr) * size + c + dc] <= v) lowest = false;
      if (lowest) count++;
    }
  }
  return count;
}

export function roughness(line: readonly number[], grid?: { values: readonly number[]; size: number }): Roughness {
  return {
    localMinima: localMinima(line),
    normalizedVariation: normalizedVariation(line),
    ...(grid && grid.size >= 3 ? { gridLocalMinima: gridLocalMinima(grid.values, grid.size) } : {}),
  };
}
