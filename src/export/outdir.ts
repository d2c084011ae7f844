// Output folders belong to the user: evolq assembles its files in a staging folder beside the target under a
// lock that names its holder, moves the result into place only when complete, and never deletes what it did
// not write (the target's files are checked against the manifest evolq leaves in every output folder).
import {
  cpSync,
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  rmdirSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import { takeLock } from './out-lock.js';
import { MANIFEST_FILE, foreignEntries, outputCommands, refuseForeign, relativeFiles } from './out-files.js';

export { MANIFEST_FILE };

/** Every folder open in this process, so an interrupted run can clean up before it exits. */
const openDirs = new Set<OutputDir>();

/** Aborts every open output folder (keeping checkpoints); returns one line per folder saying what was left. */
export function abortOpenOutputs(keepIf?: string): string[] {
  const lines: string[] = [];
  for (const dir of [...openDirs]) {
    const kept = dir.abort(keepIf);
    lines.push(
      kept
        ? `kept ${dir.path(keepIf!)} to resume from (run the same command with --resume)`
        : `removed the unfinished ${dir.staging}; ${dir.target} is as it was`,
    );
  }
  return lines;
}

export class OutputDir {
  private locked = true;

  private constructor(
    readonly target: string,
    readonly staging: string,
    private readonly lockFile: string,
    /** The commands whose output the folder will hold (the manifest records them). */
    private readonly commands: readonly string[],
    /** The first of the folders above the target that this run made (removed again if the run fails). */
    private readonly created?: string,
  ) {
    openDirs.add(this);
  }

  /**
   * Checks that `target` may be written (absent, empty, or holding only files an earlier evolq run wrote),
   * takes its lock `.NAME.lock` and opens its staging folder `.NAME.partial` beside it: emptied, or kept as
   * it is with `keep` (to resume from a checkpoint in it). With `extend`, the staging folder starts as a
   * copy of the target's files, so a commit adds to them. With `command`, a folder holding another command's
   * output is refused unless extended (a quantize run would replace a landscape's files), and with `checkpoint`,
   * a staging folder holding that file (an unfinished search) is refused unless kept.
   */
  static open(target: string, options: OpenOptions = {}): OutputDir {
    const path = resolve(target);
    const parent = dirname(path);
    const name = basename(path);
    if (path === parent) throw new ConfigError(`--out ${target}: the root folder cannot be an output folder`, '--out');
    // The staging folder and lock beside it add 9 bytes to a name; most file systems take 255.
    if (Buffer.byteLength(name) > 240)
      throw new ConfigError(
        `--out ${target}: its name is ${Buffer.byteLength(name)} bytes, and evolq's staging folder beside it adds 9; use a name of at most 240`,
        '--out',
      );
    if (existsSync(parent) && !statSync(parent).isDirectory())
      throw new ConfigError(`--out ${target}: ${parent} is not a folder`, '--out');
    const created = mkdirSync(parent, { recursive: true });
    const lockFile = join(parent, `.${name}.lock`);
    takeLock(lockFile, target);
    try {
      recoverInterruptedCommit(path, join(parent, `.${name}.old`), target);
      let commands = options.command ? [options.command] : [];
      if (existsSync(path)) {
        if (!statSync(path).isDirectory())
          throw new ConfigError(`--out ${target}: exists and is not a folder`, '--out');
        refuseForeign(path, target);
        const held = outputCommands(path);
        const others = held.filter((c) => c !== options.command);
        if (options.command && !options.extend && others.length)
          throw new ConfigError(
            `--out ${target}: holds the output of evolq ${others.join(' and ')}, which this ${options.command} run would replace; choose another folder, or remove it first`,
            '--out',
          );
        if (options.extend) commands = [...new Set([...held, ...commands])];
      }
      const staging = join(parent, `.${name}.partial`);
      if (options.checkpoint && !options.keep && existsSync(join(staging, options.checkpoint)))
        throw new ConfigError(
          `--out ${target}: ${join(staging, options.checkpoint)} is the checkpoint of an unfinished search; run the same command with --resume to continue it, or delete ${staging} to start over`,
          '--out',
        );
      // Kept to resume from where it holds the checkpoint (runs before the mark existed left none).
      const resumable = options.checkpoint !== undefined && existsSync(join(staging, options.checkpoint));
      if (!options.keep || !(resumable || existsSync(join(staging, STAGING_MARK)))) clearStaging(staging, target);
      mkdirSync(staging, { recursive: true });
      writeFileSync(join(staging, STAGING_MARK), '');
      if (options.extend && existsSync(path)) {
        // Copies, not links: the staged files are rewritten in place (report.html) while the target stays as it was.
        cpSync(path, staging, { recursive: true, filter: (source) => basename(source) !== MANIFEST_FILE });
      }
      return new OutputDir(path, staging, lockFile, commands, created);
    } catch (err) {
      rmSync(lockFile, { force: true });
      removeCreated(created, parent);
      throw err;
    }
  }

  path(name: string): string {
    return join(this.staging, name);
  }

  /** Writes a file of the output; `name` may have folders ('onnx/model_q4.onnx'). */
  write(name: string, data: Uint8Array | string): void {
    try {
      mkdirSync(dirname(this.path(name)), { recursive: true });
      writeFileSync(this.path(name), data);
    } catch (err) {
      // A failed write (ENOSPC, EIO) names no file; the user knows the file by its place in the output.
      (err as NodeJS.ErrnoException).path ??= join(this.target, name);
      throw err;
    }
  }

  writeJson(name: string, value: unknown): void {
    this.write(name, `${JSON.stringify(value, null, 2)}\n`);
  }

  /** A second name for a staged file (a hard link: the same bytes, stored once). */
  link(name: string, existing: string): void {
    mkdirSync(dirname(this.path(name)), { recursive: true });
    try {
      linkSync(this.path(existing), this.path(name));
    } catch {
      this.write(name, readFileSync(this.path(existing))); // a file system without hard links gets a copy
    }
  }

  /** Copies a file's content (not its mode: sources may be read-only) when it exists. */
  copy(source: string, name = basename(source)): void {
    if (existsSync(source)) this.write(name, readFileSync(source));
  }

  remove(name: string): void {
    rmSync(this.path(name), { force: true });
  }

  /**
   * Moves the staged folder into place. The previous output is set aside first and deleted only once the
   * new one is in place; a crash in between leaves it as `.NAME.old`, which the next open puts back.
   */
  commit(): void {
    const files = relativeFiles(this.staging).filter((f) => f !== MANIFEST_FILE && f !== STAGING_MARK);
    this.writeJson(MANIFEST_FILE, { format: 'evolq-output/1', files, commands: this.commands });
    const old = join(dirname(this.target), `.${basename(this.target)}.old`);
    if (existsSync(this.target)) {
      refuseForeign(this.target, this.target);
      renameSync(this.target, old);
    }
    rmSync(this.path(STAGING_MARK), { force: true });
    renameSync(this.staging, this.target);
    rmSync(old, { recursive: true, force: true });
    this.release();
  }

  /** Removes the staging folder, unless it holds `keepIf` (a checkpoint to resume from); true when kept. */
  abort(keepIf?: string): boolean {
    const kept = Boolean(keepIf && existsSync(this.path(keepIf)));
    if (!kept && existsSync(this.path(STAGING_MARK))) rmSync(this.staging, { recursive: true, force: true });
    this.release();
    if (!kept) removeCreated(this.created, dirname(this.target));
    return kept;
  }

  private release(): void {
    if (this.locked) rmSync(this.lockFile, { force: true });
    this.locked = false;
    openDirs.delete(this);
  }
}

export interface OpenOptions {
  keep?: boolean;
  extend?: boolean;
  /** The command writing the folder ('quantize', 'landscape'). */
  command?: string;
  /** The name of the file that marks an unfinished search in the staging folder. */
  checkpoint?: string;
}

/**
 * Puts back (or, where the new output made it in, removes) an output that a cut-short commit set aside as `old`;
 * a folder of that name evolq did not set aside (no manifest, or files it did not write) is left alone and refused.
 */
function recoverInterruptedCommit(path: string, old: string, target: string): void {
  if (!existsSync(old)) return;
  if (!existsSync(join(old, MANIFEST_FILE)) || foreignEntries(old).length)
    throw new ConfigError(
      `--out ${target}: ${old} is in the place where evolq sets an earlier output aside, and evolq did not write it; rename or remove it`,
      '--out',
    );
  if (existsSync(path)) rmSync(old, { recursive: true, force: true });
  else renameSync(old, path);
}

/** Removes the folders from `created` down to `deepest` that this run made, where they are still empty. */
function removeCreated(created: string | undefined, deepest: string): void {
  if (!created) return;
  for (let dir = deepest; dir.startsWith(created); dir = dirname(dir)) {
    try {
      rmdirSync(dir);
    } catch {
      return; // not empty (someone put something there), or gone
    }
    if (dir === created) return;
  }
}

/** The file that marks a staging folder as evolq's: only such a folder (or an empty one) is emptied or removed. */
const STAGING_MARK = '.evolq-staging';

/** Empties the staging folder for a new run, if it is evolq's; refuses a folder of that name that is not. */
function clearStaging(staging: string, target: string): void {
  if (existsSync(staging) && readdirSync(staging).length && !existsSync(join(staging, STAGING_MARK)))
    throw new ConfigError(
      `--out ${target}: ${staging} is where evolq stages its output, and evolq did not make it; rename or remove it`,
      '--out',
    );
  rmSync(staging, { recursive: true, force: true });
}
