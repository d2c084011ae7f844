// The quantizer kinds by name. The params keep their serialized shape (checkpoints and tests hold it); `kindOf`
// reads which kind they are, in one place, and the engines call the kind's module.
import type { QuantParams } from '../scheme.js';
import type { QuantizerKind } from './kind.js';
import { UNIFORM } from './uniform.js';
import { PTF } from './ptf.js';
import { LOG2 } from './log2.js';
import { BLOCKED } from './blocked.js';
import { INTEGER_LAYER_NORM } from './integer-layernorm.js';

export const QUANTIZER_KINDS = {
  uniform: UNIFORM,
  ptf: PTF,
  log2: LOG2,
  blocked: BLOCKED,
  'integer-layernorm': INTEGER_LAYER_NORM,
} as const;

export type QuantizerKindName = keyof typeof QUANTIZER_KINDS;

/**
 * The kind of a point's params: log2 params are log2 (or log√2), uniform params with blocks are blocked, with the
 * integer LayerNorm integer-layernorm (on a PTF or per-tensor input), with channel factors PTF, else uniform.
 */
export function kindOf(params: QuantParams): QuantizerKindName {
  if (params.kind === 'log2') return 'log2';
  if (params.block) return 'blocked';
  if (params.integerLayerNorm) return 'integer-layernorm';
  if (params.channelFactor) return 'ptf';
  return 'uniform';
}

/** The module of the params' kind. */
export function quantizerKind(params: QuantParams): QuantizerKind<QuantParams> {
  return QUANTIZER_KINDS[kindOf(params)];
}
