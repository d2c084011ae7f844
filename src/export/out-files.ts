// What an output folder holds: the manifest of the files evolq wrote, every file below a folder, the entries evolq
// did not write (which it never replaces), and the commands whose output a folder holds.
import { lstatSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';

/** The manifest: which files of the folder evolq wrote. */
export const MANIFEST_FILE = '.evolq-files.json';

/** What evolq wrote into output folders before it kept a manifest. */
const KNOWN_OUTPUTS = [
  'model.onnx',
  'simulation.onnx',
  'quant.json',
  'report.json',
  'report.html',
  'preprocessor_config.json',
  'config.json',
  'landscape.json',
  'landscape.csv',
];
export const isKnownOutput = (name: string) => KNOWN_OUTPUTS.includes(name) || /^landscape-[\w-]+\.svg$/.test(name);

/**
 * Every file below `dir` as a path relative to it ('onnx/model_q4.onnx'), every entry that is no file or folder,
 * and every empty folder (as 'name/'), so that nothing in it goes unseen.
 */
export function relativeFiles(dir: string, prefix = ''): string[] {
  const names = readdirSync(join(dir, prefix)).sort();
  if (prefix && !names.length) return [`${prefix}/`];
  return names.flatMap((name) => {
    const path = prefix ? `${prefix}/${name}` : name;
    return lstatSync(join(dir, path)).isDirectory() ? relativeFiles(dir, path) : [path];
  });
}

/**
 * The entries of `dir` that evolq did not write: not in its manifest (or, without one, not an evolq file name),
 * named by their top-level entry (a folder holding one foreign file is named as the folder).
 */
export function foreignEntries(dir: string): string[] {
  const entries = readdirSync(dir);
  let owned: (name: string) => boolean = isKnownOutput;
  if (entries.includes(MANIFEST_FILE)) {
    let files: unknown;
    try {
      files = JSON.parse(readFileSync(join(dir, MANIFEST_FILE), 'utf8')).files;
    } catch {
      files = undefined;
    }
    if (!Array.isArray(files)) return [MANIFEST_FILE];
    owned = (name) => files.includes(name);
  } else if (entries.length && !entries.some((e) => ['report.json', 'quant.json', 'landscape.json'].includes(e))) {
    return entries;
  }
  const foreign = relativeFiles(dir).filter(
    (f) => f !== MANIFEST_FILE && (!owned(f) || f.endsWith('/') || !lstatSync(join(dir, f)).isFile()),
  );
  return [...new Set(foreign.map((f) => f.split('/')[0]))];
}

/** The commands whose output an evolq folder holds: its manifest's, or (older manifests, none) read from its files. */
export function outputCommands(dir: string): string[] {
  let manifest: { commands?: unknown };
  try {
    manifest = JSON.parse(readFileSync(join(dir, MANIFEST_FILE), 'utf8'));
  } catch {
    manifest = {};
  }
  if (Array.isArray(manifest.commands)) return manifest.commands.filter((c): c is string => typeof c === 'string');
  const names = readdirSync(dir);
  return [
    ...(names.some((n) => ['report.json', 'quant.json', 'model.onnx'].includes(n)) ? ['quantize'] : []),
    ...(names.includes('landscape.json') ? ['landscape'] : []),
  ];
}

export function refuseForeign(path: string, target: string): void {
  const foreign = foreignEntries(path);
  if (foreign.length) {
    const shown = foreign.slice(0, 5).join(', ') + (foreign.length > 5 ? `, … (${foreign.length} in all)` : '');
    throw new ConfigError(
      `--out ${target}: holds files evolq did not write (${shown}); choose another folder or remove them`,
      '--out',
    );
  }
}
