// Evol-Q's evolutionary step for one unit (Frumkin et al., ICCV 2023, Alg. 1, as the authors' code runs it):
// a population of copies of the current scales, then per cycle a tournament, a uniform mutation of the
// winner, and the worst member dropped.
import type { Rng } from '../rng.js';
import { SCALE_EPS } from '../quant/scheme.js';
import type { Scored } from '../fitness/batches.js';
/** How a mutation moves a unit's scales (`--mutation`). */
export const MUTATIONS = ['absolute', 'relative', 'joint', 'point'] as const;
export type Mutation = (typeof MUTATIONS)[number];

export type Scales = Float32Array[];

export interface Member {
  scales: Scales;
  fitness: number;
  /** Each calibration image's term of the fitness: what a candidate is raced against. */
  rows?: Float64Array;
}

/**
 * A candidate's fitness. With a `rival` the evaluation may stop early and return undefined when the candidate is
 * surely worse than it (src/fitness/fitness.ts, racing); without one it always returns the fitness.
 */
export type Evaluate = (scales: Scales, rival?: Scored) => Promise<Scored | undefined>;

export interface EvolutionOptions {
  population: number;
  cycles: number;
  /** Members drawn (with replacement) for each tournament. */
  tournament: number;
  /** Mutation half-width: absolute, or a fraction of each scale for `relative`, `joint` and `point`. */
  radius: number;
  mutation: Mutation;
}

/**
 * s' = |s + U(−r, r)| for every scale (`absolute`), s' = s·(1 + U(−r, r)) (`relative`), or with `joint` one common
 * factor per quant point times each scale's own: s' = s·(1 + U(−r, r))·(1 + U(−r, r)), so a candidate can move a
 * layer's clipping as a whole, which independent per-channel noise averages away, or with `point` only the common
 * factor, s' = s·(1 + U(−r, r)) for every scale of the point alike. Kept above the smallest scale.
 */
export function mutate(scales: Scales, rng: Rng, radius: number, mutation: Mutation): Scales {
  return scales.map((vector) => {
    const common = mutation === 'joint' || mutation === 'point' ? 1 + rng.symmetric(radius) : 1;
    return vector.map((s) => {
      const own = mutation === 'point' ? 1 : 1 + rng.symmetric(radius);
      const moved = mutation === 'absolute' ? s + rng.symmetric(radius) : s * common * own;
      return Math.max(SCALE_EPS, Math.fround(Math.abs(moved)));
    });
  });
}

/** The member a new one replaces: the highest fitness, the latest among equals (a stable sort then pop()). */
function worstOf(population: readonly Member[]): number {
  let worst = 0;
  for (let i = 1; i < population.length; i++) if (population[i].fitness >= population[worst].fitness) worst = i;
  return worst;
}

/**
 * Evolves a unit's scales from `start`, whose fitness is known, so the search costs one evaluation per cycle.
 * Each candidate is evaluated against the member it would replace (the worst), which racing may use to stop it
 * early: a stopped candidate is dropped, as it would have been. Returns the best member: the start itself when
 * nothing beats it (ties keep the earlier member), and how many candidates were stopped.
 */
export async function evolveUnit(
  start: Member,
  evaluate: Evaluate,
  rng: Rng,
  options: EvolutionOptions,
): Promise<{ best: Member; evaluations: number; stopped: number }> {
  const population: Member[] = Array.from({ length: options.population }, () => ({ ...start }));
  let evaluations = 0;
  let stopped = 0;
  for (let cycle = 0; cycle < options.cycles; cycle++) {
    let parent = population[rng.int(population.length)];
    for (let i = 1; i < options.tournament; i++) {
      const contender = population[rng.int(population.length)];
      if (contender.fitness < parent.fitness) parent = contender;
    }
    const scales = mutate(parent.scales, rng, options.radius, options.mutation);
    const rival = population[worstOf(population)];
    const scored = await evaluate(scales, rival.rows ? { fitness: rival.fitness, rows: rival.rows } : undefined);
    evaluations++;
    if (!scored) {
      stopped++;
      continue;
    }
    population.push({ scales, fitness: scored.fitness, rows: scored.rows });
    population.splice(worstOf(population), 1);
  }
  let best = population[0];
  for (const member of population) if (member.fitness < best.fitness) best = member;
  return { best, evaluations, stopped };
}
