// Time left follows the rate of the work this run did: units done before it (a resumed search) count for nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StderrProgress } from '../../src/progress.js';

test('progress: after a resume, time left comes from the units this run did, not from those before it', () => {
  const written: string[] = [];
  const stream = { isTTY: false, write: (s: string) => (written.push(s), true) } as unknown as NodeJS.WriteStream;
  const realNow = Date.now;
  let now = 1_000_000;
  Date.now = () => now;
  try {
    const p = new StderrProgress(stream);
    p.start('search', 24);
    p.update(6); // 6 of 24 units done before the resume, reported at once
    now += 60_000;
    p.update(12); // 6 more in 60 s: 10 s a unit, 12 left
    p.end();
  } finally {
    Date.now = realNow;
  }
  assert.match(written.join(''), /search: 12\/24 \(50%\) 60s elapsed, 2m00s left/);
});
