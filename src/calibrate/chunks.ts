// Runs over a range of images in chunks whose size follows from a memory budget and the first chunk's tensors.
import type { FloatTensor } from '../runtime/runner.js';
import { imagesWithin } from '../memory.js';

/**
 * Images [start, end) in chunks: the first of `firstChunk` images (one where the size is still to be learnt),
 * the rest as many as `budget` bytes hold at twice the bytes per image of the first chunk's whole tensors
 * (onnxruntime's and JavaScript's copies). `run(…, true)` fetches what measures the size.
 */
export async function forChunks(
  start: number,
  end: number,
  limit: number,
  budget: number,
  run: (start: number, end: number, measure: boolean) => Promise<Record<string, FloatTensor>>,
  use: (values: Record<string, FloatTensor>, end: number) => void | Promise<void>,
  firstChunk = 1,
  known?: number,
): Promise<{ chunk: number; bytesPerImage: number }> {
  const fit = (bytes: number) => imagesWithin(budget, bytes, limit);
  let chunk = known === undefined ? Math.min(firstChunk, limit) : fit(known);
  let sized = known !== undefined;
  let bytesPerImage = known ?? 0;
  for (let from = start; from < end;) {
    const to = Math.min(end, from + chunk);
    const values = await run(from, to, !sized);
    if (!sized) {
      // Tensors fetched whole; the reduced ranges are scalars and do not count.
      bytesPerImage =
        Object.values(values).reduce((n, t) => n + (t.data.length > 1 ? t.data.byteLength : 0), 0) / (to - from);
      chunk = fit(bytesPerImage);
      sized = true;
    }
    await use(values, to);
    from = to;
  }
  return { chunk, bytesPerImage };
}
