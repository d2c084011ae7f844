// The search's cached unit inputs: per piece of the calibration set (the images of one onnxruntime run), the
// tensors each unit's suffix reads. They stay in memory up to a budget; beyond it each tensor goes to a file of
// its own (float32, as it came) and is read back, a piece at a time, whenever an evaluation needs it (from the
// page cache, while it lasts), so a spilled search runs on the same bytes as one held in memory and holds no
// more of them than one piece.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FloatTensor } from '../runtime/runner.js';

/** What spilled to disk during a search, for report.json. */
export interface SpillReport {
  /** The budget for unit inputs in memory, in bytes. */
  budget: number;
  /** Bytes held in memory and written to disk at the largest pass (every pass caches the same tensors). */
  inMemoryBytes: number;
  spilledBytes: number;
  /** Spilled (piece, tensor) pairs of that pass, and the folder they were written to (removed after the search). */
  spilledTensors: number;
  folder: string | null;
}

/** Spill folders still on disk: removed when the process exits, interrupted or not. */
const liveFolders = new Set<string>();
let exitHook = false;

export class UnitInputs {
  private readonly held: Record<string, FloatTensor>[] = [];
  private readonly spilled: Record<string, { file: string; dims: readonly number[] }>[] = [];
  private heldBytes = 0;
  private spilledBytes = 0;
  private spilledTensors = 0;
  private folderMade = false;

  /** `budget`: bytes of tensors to hold in memory; `folder`: where the rest goes (made when first needed). */
  constructor(
    private readonly budget = Infinity,
    private readonly folder?: string,
  ) {}

  /**
   * Stores piece `b`'s tensors (in order); a tensor that would pass the budget goes to disk. `shared`
   * tensors (views of data held elsewhere) are kept as they are and not counted.
   */
  put(
    b: number,
    tensors: Readonly<Record<string, FloatTensor>>,
    shared: Readonly<Record<string, FloatTensor>> = {},
  ): void {
    const held: Record<string, FloatTensor> = { ...shared };
    const spilled: Record<string, { file: string; dims: readonly number[] }> = {};
    for (const [name, tensor] of Object.entries(tensors)) {
      const bytes = tensor.data.byteLength;
      if (!this.folder || this.heldBytes + bytes <= this.budget) {
        held[name] = tensor;
        this.heldBytes += bytes;
        continue;
      }
      const file = join(this.spillFolder(), `${b}-${Object.keys(spilled).length}.f32`);
      writeFileSync(file, new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, bytes));
      spilled[name] = { file, dims: [...tensor.dims] };
      this.spilledBytes += bytes;
      this.spilledTensors++;
    }
    this.held[b] = held;
    this.spilled[b] = spilled;
  }

  /** The pieces stored. */
  get pieces(): number {
    return this.held.length;
  }

  /** Piece `b`'s named tensors, read back from disk where they were spilled. */
  piece(b: number, names: readonly string[]): Record<string, FloatTensor> {
    const out: Record<string, FloatTensor> = {};
    for (const name of names) {
      const spilled = this.spilled[b][name];
      if (!spilled) {
        out[name] = this.held[b][name];
        continue;
      }
      const bytes = readFileSync(spilled.file);
      const data = new Float32Array(bytes.byteLength / 4);
      new Uint8Array(data.buffer).set(bytes);
      out[name] = { data, dims: spilled.dims };
    }
    return out;
  }

  get report(): SpillReport {
    return {
      budget: this.budget,
      inMemoryBytes: this.heldBytes,
      spilledBytes: this.spilledBytes,
      spilledTensors: this.spilledTensors,
      folder: this.spilledTensors ? (this.folder ?? null) : null,
    };
  }

  /** Deletes the spilled files. */
  dispose(): void {
    if (this.folder && this.folderMade) {
      rmSync(this.folder, { recursive: true, force: true });
      liveFolders.delete(this.folder);
    }
    this.folderMade = false;
  }

  private spillFolder(): string {
    const folder = this.folder!;
    if (!this.folderMade) {
      rmSync(folder, { recursive: true, force: true }); // what an interrupted run may have left
      mkdirSync(folder, { recursive: true });
      this.folderMade = true;
      liveFolders.add(folder);
      if (!exitHook) {
        exitHook = true;
        process.on('exit', () => {
          for (const f of liveFolders) rmSync(f, { recursive: true, force: true });
        });
      }
    }
    return folder;
  }
}
