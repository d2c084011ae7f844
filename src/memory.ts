// The memory budget: how many bytes of tensors evolq itself may hold (decoded images, tensors fetched from
// onnxruntime, cached search inputs); chunk sizes and spilling to disk follow from it.
import { totalmem } from 'node:os';

const GIB = 1024 ** 3;

/** 2 GiB, or a quarter of this machine's memory where that is less (docs/notes/memory.md). */
export const DEFAULT_MEMORY_BUDGET = Math.min(2 * GIB, Math.floor(totalmem() / 4));

/** What `budget` leaves for tensors beside `heldBytes` of decoded images, never under a quarter of it. */
export function budgetBeside(budget: number, heldBytes: number): number {
  return Math.max(budget - heldBytes, budget / 4);
}

/**
 * Images a chunk may hold: as many as `budget` bytes hold at twice `bytesPerImage` (onnxruntime's copy and
 * JavaScript's), at least one and at most `limit`; `limit` where the size per image is not known (0).
 */
export function imagesWithin(budget: number, bytesPerImage: number, limit: number): number {
  return bytesPerImage > 0 ? Math.max(1, Math.min(limit, Math.floor(budget / (2 * bytesPerImage)))) : limit;
}

/** A byte count for people: 1.5 GiB, 300 MiB. */
export function formatBytes(bytes: number): string {
  return bytes >= GIB ? `${(bytes / GIB).toFixed(1)} GiB` : `${(bytes / 1024 ** 2).toFixed(0)} MiB`;
}
