// The sample batch's statistics (OMSE, PTF) spread over worker threads. Each tensor's statistics live in one
// thread and see that tensor's chunks in the order they come, so the sums, and the parameters, are the same as
// in one thread: the threads only share out the tensors.
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { sampleStatistic } from './observers/sample-registry.js';
import type { SampleSpec, SampleStatistic } from './observers/sample-statistic.js';
import type { UniformParams } from '../quant/scheme.js';
import type { FloatTensor } from '../runtime/runner.js';

/** A tensor's statistics and the range over every image they are made from. */
export interface SampleTensor {
  tensor: string;
  specs: readonly SampleSpec[];
  min: number;
  max: number;
}

/** One chunk of one tensor: rows of `channels` (the tensor's last axis). */
interface SampleChunk {
  tensor: string;
  values: Float32Array;
  channels: number;
}

type Reply = { type: 'added' } | { type: 'params'; params: Record<string, UniformParams[]> };
export type SampleMessage = { type: 'add'; chunks: SampleChunk[] } | { type: 'params' };

/** Statistics per tensor in this thread. */
export class SampleSet {
  private readonly statistics = new Map<string, SampleStatistic[]>();

  constructor(tensors: readonly SampleTensor[]) {
    for (const t of tensors)
      this.statistics.set(
        t.tensor,
        t.specs.map((s) => sampleStatistic(s, t.min, t.max)),
      );
  }

  add(chunks: readonly SampleChunk[]): void {
    for (const c of chunks) for (const s of this.statistics.get(c.tensor)!) s.add(c.values, c.channels);
  }

  /** Per tensor, the parameters of each of its statistics, in the order of its specs. */
  params(): Record<string, UniformParams[]> {
    return Object.fromEntries([...this.statistics].map(([t, statistics]) => [t, statistics.map((s) => s.params())]));
  }
}

/** Work per value of each statistic relative to OMSE, as measured (docs/notes/calibrate.md); the refit's grows with its factors. */
const COST: Record<SampleSpec['kind'], number> = { omse: 1, ptf: 1.6, 'ptf-fit': 15 };
const cost = (s: SampleSpec) => COST[s.kind] * (s.kind === 'ptf-fit' ? (3 * (s.steps ?? 1) + 1) / 4 : 1);

/** A worker thread holding a SampleSet; replies come in the order the messages went. */
class SampleThread {
  private readonly worker: Worker;
  private readonly waiting: { resolve: (r: Reply) => void; reject: (e: Error) => void }[] = [];
  private failure?: Error;

  constructor(tensors: readonly SampleTensor[]) {
    this.worker = new Worker(new URL('./sample-worker.js', import.meta.url), { workerData: { tensors } });
    this.worker.on('message', (reply: Reply) => this.waiting.shift()?.resolve(reply));
    const fail = (err: Error) => {
      this.failure ??= err;
      for (const w of this.waiting.splice(0)) w.reject(err);
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`calibration: a sample-statistics thread exited (code ${code})`)));
  }

  send(message: SampleMessage, transfer: ArrayBuffer[] = []): Promise<Reply> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.worker.postMessage(message, transfer);
    });
  }

  async close(): Promise<void> {
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
  }
}

/**
 * The sample statistics of `tensors` on `threads` worker threads (in this thread when `threads` ≤ 1). Tensors
 * go to threads by their size in the first chunk times their statistics' cost, largest first to the least loaded.
 */
export class SampleStatistics {
  private readonly local?: SampleSet;
  private threads: SampleThread[] = [];
  /** Tensor → its thread, fixed by the first chunk. */
  private owner?: Map<string, number>;

  constructor(
    private readonly tensors: readonly SampleTensor[],
    private readonly threadCount = availableParallelism(),
  ) {
    if (threadCount <= 1 || tensors.length <= 1) this.local = new SampleSet(tensors);
  }

  private assign(values: Record<string, FloatTensor>): Map<string, number> {
    const count = Math.min(this.threadCount, this.tensors.length);
    const load = new Array<number>(count).fill(0);
    const shares: SampleTensor[][] = Array.from({ length: count }, () => []);
    const owner = new Map<string, number>();
    const work = (t: SampleTensor) => values[t.tensor].data.length * t.specs.reduce((n, s) => n + cost(s), 0);
    for (const t of [...this.tensors].sort((a, b) => work(b) - work(a))) {
      const least = load.indexOf(Math.min(...load));
      load[least] += work(t);
      shares[least].push(t);
      owner.set(t.tensor, least);
    }
    this.threads = shares.map((share) => new SampleThread(share));
    return owner;
  }

  /** Adds a chunk of every tensor; `values` must not be used after (their buffers may move to the threads). */
  async add(values: Record<string, FloatTensor>): Promise<void> {
    const chunks = this.tensors.map((t) => ({
      tensor: t.tensor,
      values: values[t.tensor].data,
      channels: values[t.tensor].dims[values[t.tensor].dims.length - 1],
    }));
    if (this.local) return this.local.add(chunks);
    const owner = (this.owner ??= this.assign(values));
    const perThread = this.threads.map(() => ({ chunks: [] as SampleChunk[], transfer: [] as ArrayBuffer[] }));
    for (const c of chunks) {
      // A view of a larger buffer (the pixels are a view of every image) is copied; a whole buffer moves.
      const whole =
        c.values.byteOffset === 0 &&
        c.values.byteLength === c.values.buffer.byteLength &&
        c.values.buffer instanceof ArrayBuffer;
      const data = whole ? c.values : c.values.slice();
      const share = perThread[owner.get(c.tensor)!];
      share.chunks.push({ ...c, values: data });
      share.transfer.push(data.buffer as ArrayBuffer);
    }
    await Promise.all(
      this.threads.map((thread, i) => thread.send({ type: 'add', chunks: perThread[i].chunks }, perThread[i].transfer)),
    );
  }

  /** Per tensor, the parameters of each of its statistics. */
  async params(): Promise<Map<string, UniformParams[]>> {
    if (this.local) return new Map(Object.entries(this.local.params()));
    const replies = await Promise.all(this.threads.map((thread) => thread.send({ type: 'params' })));
    return new Map(replies.flatMap((r) => (r.type === 'params' ? Object.entries(r.params) : [])));
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.map((thread) => thread.close()));
    this.threads = [];
  }
}
