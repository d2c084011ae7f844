// Evol-Q's evolutionary step for one unit (Frumkin et al., ICCV 2023, Alg. 1, as the authors' code runs it):
// a population of copies of the current scales, then per cycle a tournament, a uniform mutation of the
// winner, and the worst member dropped.
import type { Rng } from '../rng.js';
import { SCALE_EPS } from '../quant/scheme.js';

export type Scales = Float32Array[];

export interface Member {
  scales: Scales;
  fitness: number;
}

export interface EvolutionOptions {
  population: number;
  cycles: number;
  /** Members drawn (with replacement) for each tournament. */
  tournament: number;
  /** Mutation half-width: absolute, or a fraction of each scale for `relative` and `joint`. */
  radius: number;
  mode: 'absolute' | 'relative' | 'joint';
}

/**
 * s' = |s + U(−r, r)| for every scale (`absolute`), s' = s·(1 + U(−r, r)) (`relative`), or with `joint` one common
 * factor per quant point times each scale's own: s' = s·(1 + U(−r, r))·(1 + U(−r, r)), so a candidate can move a
 * layer's clipping as a whole, which independent per-channel noise averages away. Kept above the smallest scale.
 */
export function mutate(scales: Scales, rng: Rng, radius: number, mode: EvolutionOptions['mode']): Scales {
  return scales.map((vector) => {
    const common = mode === 'joint' ? 1 + rng.symmetric(radius) : 1;
    return vector.map((s) => {
      const moved = mode === 'absolute' ? s + rng.symmetric(radius) : s * common * (1 + rng.symmetric(radius));
      return Math.max(SCALE_EPS, Math.fround(Math.abs(moved)));
    });
  });
}

/**
 * Evolves a unit's scales from `start`, whose fitness is known, so the search costs one evaluation per cycle.
 * Returns the best member: the start itself when nothing beats it (ties keep the earlier member).
 */
export async function evolveUnit(
  start: Scales, startFitness: number, evaluate: (scales: Scales) => Promise<number>, rng: Rng, options: EvolutionOptions,
): Promise<{ best: Member; evaluations: number }> {
  const population: Member[] = Array.from({ length: options.population }, () => ({ scales: start, fitness: startFitness }));
  let evaluations = 0;
  for (let cycle = 0; cycle < options.cycles; cycle++) {
    let parent = population[rng.int(population.length)];
    for (let i = 1; i < options.tournament; i++) {
      const contender = population[rng.int(population.length)];
      if (contender.fitness < parent.fitness) parent = contender;
    }
    const scales = mutate(parent.scales, rng, options.radius, options.mode);
    population.push({ scales, fitness: await evaluate(scales) });
    evaluations++;
    // Drop the worst; among equals the newest goes, as a stable sort then pop() does.
    let worst = 0;
    for (let i = 1; i < population.length; i++) if (population[i].fitness >= population[worst].fitness) worst = i;
    population.splice(worst, 1);
  }
  let best = population[0];
  for (const member of population) if (member.fitness < best.fitness) best = member;
  return { best, evaluations };
}
