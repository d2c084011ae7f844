// The memory budget: how many bytes of tensors evolq itself may hold (decoded images, tensors fetched from
// onnxruntime, cached search inputs); chunk sizes and spilling to disk follow from it.
import { totalmem } from 'node:os';
import { ConfigError } from './errors.js';

const GIB = 1024 ** 3;

/** 2 GiB, or a quarter of this machine's memory where that is less (docs/notes/memory.md). */
export const DEFAULT_MEMORY_BUDGET = Math.min(2 * GIB, Math.floor(totalmem() / 4));

const UNITS: Record<string, number> = {
  '': 1024 ** 2,
  k: 1024,
  kb: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  g: GIB,
  gb: GIB,
};

/** `--memory-budget`: a size such as 3G, 512M or 1.5GB (a bare number is MiB), in bytes. */
export function parseMemoryBudget(value: unknown, option = '--memory-budget'): number {
  if (typeof value === 'number' && Number.isFinite(value) && value > 0) return Math.floor(value);
  const match = typeof value === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*([kmg]b?)?\s*$/i.exec(value) : null;
  if (!match)
    throw new ConfigError(
      `${option} must be a size such as 3G, 512M or 1.5GB (a bare number is MiB), got "${value}"`,
      option,
    );
  const bytes = Math.floor(Number(match[1]) * UNITS[(match[2] ?? '').toLowerCase()]);
  if (bytes < 1) throw new ConfigError(`${option} must be more than 0, got "${value}"`, option);
  return bytes;
}

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
