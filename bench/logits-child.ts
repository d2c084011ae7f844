// `node dist/bench/logits-child.js MODEL FEED OUT C,H,W [CHUNK]`: the logits of MODEL on the float32 images of FEED
// (raw N×C×H×W, row-major), written to OUT as raw float32 N×classes. Reads and runs CHUNK images at a time (default
// 50) so its memory stays small; prints `done/total` after each chunk. bench/exactness.ts runs it under qemu's
// AVX2-only CPU, where onnxruntime-node picks the kernels that CPU has.
import { closeSync, openSync, readSync, renameSync, statSync, writeSync } from 'node:fs';
import { defaultRunner } from '../src/runtime/runner.js';

const [model, feed, out, shape, chunkArg] = process.argv.slice(2);
if (!model || !feed || !out || !shape) throw new RangeError('usage: logits-child.js MODEL FEED OUT C,H,W [CHUNK]');
const imageDims = shape.split(',').map(Number);
const imageFloats = imageDims.reduce((a, b) => a * b, 1);
const chunk = Number(chunkArg ?? 50);
const total = statSync(feed).size / (4 * imageFloats);
if (!Number.isInteger(total)) throw new RangeError(`${feed}: its size is not a whole number of [${shape}] images`);

const session = await defaultRunner.createSession(model);
const input = session.inputNames[0];
const output = session.outputNames[0];
const from = openSync(feed, 'r');
const partial = `${out}.partial`;
const to = openSync(partial, 'w');
try {
  for (let start = 0; start < total; start += chunk) {
    const count = Math.min(chunk, total - start);
    const data = new Float32Array(count * imageFloats);
    readSync(from, new Uint8Array(data.buffer), 0, data.byteLength, start * imageFloats * 4);
    const result = await session.run({ [input]: { data, dims: [count, ...imageDims] } }, [output]);
    const logits = result[output].data;
    writeSync(to, new Uint8Array(logits.buffer, logits.byteOffset, logits.byteLength));
    process.stdout.write(`${start + count}/${total}\n`);
  }
} finally {
  closeSync(from);
  closeSync(to);
  await session.release();
}
renameSync(partial, out);
