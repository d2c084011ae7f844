// Output folders are assembled under a temporary name and renamed into place, so a failure leaves nothing behind.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { ConfigError } from '../errors.js';

const OUR_FILES = ['report.json', 'quant.json', 'landscape.json'];

export class OutputDir {
  private constructor(readonly target: string, readonly staging: string) {}

  /**
   * Checks that `target` may be written (absent, empty, or an earlier evolq output) and opens its staging
   * folder `.NAME.partial` beside it: emptied, or kept as it is with `keep` (to resume from a checkpoint in it).
   * With `extend`, the staging folder starts as a copy of the target's files, so a commit adds to them.
   */
  static open(target: string, options: { keep?: boolean; extend?: boolean } = {}): OutputDir {
    const path = resolve(target);
    if (existsSync(path)) {
      if (!statSync(path).isDirectory()) throw new ConfigError(`--out ${target}: exists and is not a folder`, '--out');
      const entries = readdirSync(path);
      if (entries.length && !OUR_FILES.some((f) => entries.includes(f))) {
        throw new ConfigError(`--out ${target}: folder exists and is not an evolq output; choose another or remove it`, '--out');
      }
    }
    const parent = dirname(path);
    if (!existsSync(parent)) mkdirSync(parent, { recursive: true });
    const staging = join(parent, `.${basename(path)}.partial`);
    if (!options.keep) rmSync(staging, { recursive: true, force: true });
    mkdirSync(staging, { recursive: true });
    if (options.extend && existsSync(path)) {
      for (const entry of readdirSync(path)) {
        if (statSync(join(path, entry)).isFile()) writeFileSync(join(staging, entry), readFileSync(join(path, entry)));
      }
    }
    return new OutputDir(path, staging);
  }

  path(name: string): string {
    return join(this.staging, name);
  }

  write(name: string, data: Uint8Array | string): void {
    writeFileSync(this.path(name), data);
  }

  writeJson(name: string, value: unknown): void {
    this.write(name, `${JSON.stringify(value, null, 2)}\n`);
  }

  /** Copies a file's content (not its mode: sources may be read-only) when it exists. */
  copy(source: string, name = basename(source)): void {
    if (existsSync(source)) writeFileSync(this.path(name), readFileSync(source));
  }

  remove(name: string): void {
    rmSync(this.path(name), { force: true });
  }

  /** Replaces the target with the staged folder. */
  commit(): void {
    if (existsSync(this.target)) rmSync(this.target, { recursive: true, force: true });
    renameSync(this.staging, this.target);
  }

  /** Removes the staging folder, unless it holds `keepIf` (a checkpoint to resume from). */
  abort(keepIf?: string): void {
    if (keepIf && existsSync(this.path(keepIf))) return;
    rmSync(this.staging, { recursive: true, force: true });
  }
}
