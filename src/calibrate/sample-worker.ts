// A worker thread of SampleStatistics: holds the statistics of its share of the tensors and answers each
// message in turn ('add': fold in a chunk; 'params': the parameters so far).
import { parentPort, workerData } from 'node:worker_threads';
import { SampleSet, type SampleMessage, type SampleTensor } from './sample-statistics.js';

const set = new SampleSet((workerData as { tensors: SampleTensor[] }).tensors);
parentPort!.on('message', (message: SampleMessage) => {
  if (message.type === 'add') {
    set.add(message.chunks);
    parentPort!.postMessage({ type: 'added' });
  } else {
    parentPort!.postMessage({ type: 'params', params: set.params() });
  }
});
