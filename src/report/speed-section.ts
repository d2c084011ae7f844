// report.html's speed of model.onnx against the float model, and the run's warnings.
import type { SpeedReport } from '../evaluate/speed.js';
import { CPU_FLAGS } from '../runtime/cpu.js';
import { escape, table } from './markup.js';

/** Batch-1 latency, throughput at the batch size and the speedups, with the CPU they were measured on. */
export function speedTable(speed: SpeedReport): string {
  const flags =
    speed.cpu.flags === 'unknown'
      ? 'instruction sets unknown'
      : CPU_FLAGS.map((f) => `${f} ${(speed.cpu.flags as Record<string, boolean>)[f] ? 'yes' : 'no'}`).join(', ');
  const rows: (string | number)[][] = [
    ['float', speed.float.batch1Ms.toFixed(2), Math.round(speed.float.imagesPerSecond), '1.00×'],
    [
      'model.onnx',
      speed.quantized.batch1Ms.toFixed(2),
      Math.round(speed.quantized.imagesPerSecond),
      `${speed.speedup.batch1.toFixed(2)}× / ${speed.speedup.batch.toFixed(2)}×`,
    ],
  ];
  return `${table(
    ['model', 'batch 1 (ms)', `images/s at batch ${speed.batchSize}`, 'speedup (batch 1 / batch N)'],
    rows,
    [false, true, true, true],
  )}
     <p class="note">Medians of ${speed.rounds} interleaved rounds on ${escape(speed.cpu.model)} (${escape(flags)}).</p>`;
}

export function warningsList(warnings: readonly string[]): string {
  if (!warnings.length) return '';
  return `<h2>Warnings</h2><ul>${warnings.map((w) => `<li>${escape(w)}</li>`).join('')}</ul>`;
}
