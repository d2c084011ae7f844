// --resume: which search checkpoint in OUT may be continued, decided before any image is decoded.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ImageItem } from '../data/imagefolder.js';
import { hasWidthBudget } from '../options/resolve.js';
import type { QuantizeOptions } from '../options/table.js';
import { formatWeightBlock } from '../export/formats.js';
import type { OutputDir } from '../export/outdir.js';
import { CHECKPOINT_FILE, readCheckpoint } from '../search/checkpoint.js';
import type { SearchState } from '../search/state.js';
import type { Progress } from '../progress.js';

/** What a checkpoint must agree on to be resumed: the model, the drawn images and every setting that shapes the search. */
export function checkpointFingerprint(
  modelFile: string,
  splits: { calibration: readonly ImageItem[]; holdout: readonly ImageItem[] },
  options: QuantizeOptions,
  floatLayers: readonly string[] = [],
): string {
  const {
    evalLimit: _evalLimit,
    resume: _resume,
    exportFormat: _exportFormat,
    memoryBudget: _memoryBudget,
    speed: _speed,
    ...settings
  } = options;
  return createHash('sha256')
    .update(readFileSync(modelFile))
    .update(
      JSON.stringify({
        settings,
        ...(floatLayers.length ? { floatLayers } : {}),
        weightBlock: formatWeightBlock(options.exportFormat),
        // Under a width budget the format's bytes chose the widths the checkpoint's scales are for.
        ...(hasWidthBudget(options) ? { exportFormat: options.exportFormat } : {}),
        calibration: splits.calibration.map((i) => i.file),
        holdout: splits.holdout.map((i) => i.file),
      }),
    )
    .digest('hex');
}

/**
 * The search state to continue from with --resume and --method evolq, and the layers its run kept float; a
 * checkpoint that does not match is refused.
 */
export function resumableSearch(
  out: OutputDir,
  fingerprint: (floatLayers: readonly string[]) => string,
  options: QuantizeOptions,
  progress: Progress,
): { state: SearchState; floatLayers: string[] } | undefined {
  if (!options.resume || options.method !== 'evolq') return undefined;
  const resumeFrom = readCheckpoint(out.path(CHECKPOINT_FILE), fingerprint);
  if (!resumeFrom)
    progress.log(`no checkpoint at ${out.path(CHECKPOINT_FILE)}: starting the search from the beginning`);
  return resumeFrom;
}

/** A run's resume: the checkpoint's state (if resumed) and the float layers its run kept, and the fingerprint to write. */
export interface Resume {
  from?: SearchState;
  /** With --float-fallback, the layers the checkpoint's run measured to keep float (undefined: nothing resumed). */
  floatLayers?: string[];
  fingerprint: (floatLayers: readonly string[]) => string;
}

/** Reads and checks OUT's checkpoint with --resume (before any image is decoded); a resumed run keeps its float layers. */
export function openResume(
  out: OutputDir,
  modelFile: string,
  splits: { calibration: readonly ImageItem[]; holdout: readonly ImageItem[] },
  options: QuantizeOptions,
  progress: Progress,
): Resume {
  const fingerprint = (layers: readonly string[]) =>
    options.method === 'evolq' ? checkpointFingerprint(modelFile, splits, options, layers) : '';
  // Without --float-fallback no layer was measured float: a checkpoint that says otherwise is of other settings.
  const resumed = resumableSearch(out, (layers) => fingerprint(options.floatFallback ? layers : []), options, progress);
  return {
    from: resumed?.state,
    floatLayers: resumed && options.floatFallback ? resumed.floatLayers : undefined,
    fingerprint,
  };
}
