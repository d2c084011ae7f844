// The search settings that depend on what the model outputs: `--loss auto` and `--select auto` are KL for class
// logits and infoNCE / cosine for an image encoder's embeddings; KL and top-1 disagreement compare classes, so an
// encoder refuses them.
import { ConfigError } from '../errors.js';
import type { Loss } from '../fitness/losses.js';
import type { Selection } from '../search/selection.js';
import type { Task } from '../task.js';
import type { QuantizeOptions } from './table.js';

/** The loss `auto` stands for: KL of the softmaxes for logits, Evol-Q's infoNCE over the batch for embeddings. */
export function lossFor(loss: QuantizeOptions['loss'], task: Task): Loss {
  if (loss !== 'auto') return loss;
  return task === 'image-feature-extraction' ? 'infonce' : 'kl';
}

/**
 * The selection `auto` stands for: KL per image for logits, 1 − cosine per image for embeddings. Both are 0 exactly
 * where the quantized output equals the float one (infoNCE is not: it is lowered by moving embeddings apart).
 */
export function selectionFor(select: QuantizeOptions['select'], task: Task): Selection {
  if (select !== 'auto') return select;
  return task === 'image-feature-extraction' ? 'cosine' : 'kl';
}

/** The options a run goes by once the model's task is known: no `auto` left. */
export type TaskOptions = QuantizeOptions & { loss: Loss; select: Selection };

/** The options with `auto` resolved for the task; KL or disagreement asked of an image encoder is refused. */
export function forTask(options: QuantizeOptions, task: Task): TaskOptions {
  if (task === 'image-feature-extraction') {
    const classOnly = { kl: 'the softmax of class logits', disagreement: 'top-1 classes' } as const;
    if (options.loss === 'kl')
      throw new ConfigError(
        `options.loss kl compares ${classOnly.kl}, and the model is an image encoder (--task image-feature-extraction): give infonce, cosine or mse, or leave it auto`,
        'options.loss',
      );
    if (options.select === 'kl' || options.select === 'disagreement')
      throw new ConfigError(
        `options.select ${options.select} compares ${classOnly[options.select]}, and the model is an image encoder (--task image-feature-extraction): give cosine or loss, or leave it auto`,
        'options.select',
      );
  }
  return { ...options, loss: lossFor(options.loss, task), select: selectionFor(options.select, task) };
}
