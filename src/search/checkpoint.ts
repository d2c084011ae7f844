// Search checkpoints: the whole state after each unit, written atomically, so a killed run loses at most one unit.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import type { SearchState } from './state.js';

export const CHECKPOINT_FILE = 'checkpoint.json';

export interface Checkpoint {
  format: 'evolq-checkpoint/3';
  /** The settings that must match for a resume (model, data draw, search options). */
  fingerprint: string;
  /** The layers --float-fallback kept float (absent: none), which a resumed run keeps without measuring again. */
  floatLayers?: string[];
  state: SearchState;
}

export function writeCheckpoint(file: string, fingerprint: string, state: SearchState, floatLayers?: string[]): void {
  const checkpoint: Checkpoint = {
    format: 'evolq-checkpoint/3',
    fingerprint,
    ...(floatLayers ? { floatLayers } : {}),
    state,
  };
  writeFileSync(`${file}.tmp`, JSON.stringify(checkpoint));
  renameSync(`${file}.tmp`, file);
}

/**
 * The saved state and the layers its run kept float, or undefined when there is none; a checkpoint of other
 * settings is an error. `fingerprint` gives the settings' fingerprint for the checkpoint's float layers.
 */
export function readCheckpoint(
  file: string,
  fingerprint: (floatLayers: readonly string[]) => string,
): { state: SearchState; floatLayers: string[] } | undefined {
  if (!existsSync(file)) return undefined;
  let checkpoint: Checkpoint;
  try {
    checkpoint = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`--resume: ${file} is not a readable checkpoint (${(err as Error).message})`, '--resume');
  }
  if (checkpoint.format !== 'evolq-checkpoint/3')
    throw new ConfigError(`--resume: ${file} has unknown format ${checkpoint.format}`, '--resume');
  const layers = checkpoint.floatLayers;
  const floatLayers = Array.isArray(layers) && layers.every((l) => typeof l === 'string') ? layers : [];
  if (checkpoint.fingerprint !== fingerprint(floatLayers)) {
    throw new ConfigError(
      `--resume: ${file} was written with other settings (model, data, seed or search options); run without --resume to start over`,
      '--resume',
    );
  }
  const state = checkpoint.state as Partial<SearchState> | undefined;
  const fields =
    state && typeof state === 'object'
      ? ([
          ['pass', typeof state.pass === 'number'],
          ['nextUnit', typeof state.nextUnit === 'number'],
          ['rows', Array.isArray(state.rows)],
          ['macs', typeof state.macs === 'object' && state.macs !== null && Array.isArray(state.macs.passes)],
          ['scales', typeof state.scales === 'object' && state.scales !== null],
          ['rng', state.rng !== undefined],
          ['holdout', Array.isArray(state.holdout)],
          ['baselinePerImage', state.baselinePerImage === null || Array.isArray(state.baselinePerImage)],
          ['best', typeof state.best === 'object' && state.best !== null],
          ['trajectory', Array.isArray(state.trajectory)],
          ['start', typeof state.start === 'object' && state.start !== null && typeof state.start.chosen === 'string'],
        ] as const)
      : [];
  const broken = fields.length ? fields.filter(([, ok]) => !ok).map(([name]) => name) : ['state'];
  if (broken.length)
    throw new ConfigError(
      `--resume: ${file} is damaged (missing or wrong ${broken.join(', ')}); run without --resume to start over`,
      '--resume',
    );
  return { state: state as SearchState, floatLayers };
}
