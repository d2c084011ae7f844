// The accuracy table's columns, by task: a classifier's top-1/top-5, KL to float and top-1 agreement; an image
// encoder's k-NN top-1/top-5, cosine to float's embeddings and k-NN agreement. The CLI and report.html both show it.
import type { Task } from '../task.js';
import type { ScoredAccuracy } from './types.js';
import { pct } from './markup.js';

export interface AccuracyColumns {
  /** Short titles (the terminal) and long ones (report.html). */
  short: string[];
  long: string[];
  cells(a: ScoredAccuracy): string[];
}

export function accuracyColumns(task: Task): AccuracyColumns {
  const agreement = (a: ScoredAccuracy) => (a.toFloat?.agreement === undefined ? '' : pct(a.toFloat.agreement));
  if (task === 'image-feature-extraction')
    return {
      short: ['k-NN top-1', 'k-NN top-5', 'cosine', 'agrees'],
      long: ['model', 'k-NN top-1', 'k-NN top-5', 'cosine to float embeddings', 'k-NN label agrees with float'],
      cells: (a) => [
        pct(a.top1),
        pct(a.top5),
        a.toFloat?.cosine === undefined ? '' : a.toFloat.cosine.toFixed(5),
        agreement(a),
      ],
    };
  return {
    short: ['top-1', 'top-5', 'KL to float', 'agrees'],
    long: ['model', 'top-1', 'top-5', 'KL of float from it', 'agrees with float top-1'],
    cells: (a) => [
      pct(a.top1),
      pct(a.top5),
      a.toFloat?.kl === undefined ? '' : a.toFloat.kl.toPrecision(4),
      agreement(a),
    ],
  };
}
