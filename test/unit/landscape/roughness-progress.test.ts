import { test } from 'node:test';
import assert from 'node:assert/strict';
import { localMinima, normalizedVariation, gridLocalMinima, roughness } from '../../../src/landscape/roughness.js';
import { steps } from '../../../src/landscape/landscape.js';
import { StderrProgress, progressBar } from '../../../src/progress.js';

test('roughness: a bowl has one minimum and variation 2, a monotone line 1, wiggles add to both', () => {
  const bowl = [4, 1, 0, 1, 4];
  assert.equal(localMinima(bowl), 1);
  assert.equal(normalizedVariation(bowl), 2);
  assert.equal(normalizedVariation([0, 1, 2, 3]), 1);
  assert.equal(localMinima([0, 1, 2, 3]), 0, 'an end point is not an interior minimum');
  const jagged = [4, 2, 3, 0, 1, 0.5, 4];
  assert.equal(localMinima(jagged), 3);
  assert.equal(normalizedVariation(jagged), (2 + 1 + 3 + 1 + 0.5 + 3.5) / 4);
  assert.equal(localMinima([3, 1, 1, 1, 3]), 1, 'a plateau counts once');
  assert.equal(localMinima([3, 1, 1, 2, 1, 3]), 2);
  assert.equal(normalizedVariation([2, 2, 2]), 0, 'flat');
  // 3×3 grid with its centre lowest; 4×4 with two interior minima.
  assert.equal(gridLocalMinima([5, 5, 5, 5, 1, 5, 5, 5, 5], 3), 1);
  assert.equal(gridLocalMinima([9, 9, 9, 9, 9, 1, 5, 9, 9, 5, 0, 9, 9, 9, 9, 9], 4), 1, 'diagonal neighbours count');
  assert.equal(gridLocalMinima([9, 9, 9, 9, 9, 9, 9, 1, 5, 9, 9, 9, 9, 9, 9, 9, 9, 5, 1, 9, 9, 9, 9, 9, 9], 5), 2);
  assert.deepEqual(roughness(bowl), { localMinima: 1, normalizedVariation: 2 });
  assert.deepEqual(
    steps(5, 0.1).map((x) => +x.toFixed(6)),
    [-0.1, -0.05, 0, 0.05, 0.1],
  );
});

/** A stand-in for process.stderr that records what is written. */
function stream(isTTY: boolean) {
  const written: string[] = [];
  return { written, stream: { isTTY, write: (s: string) => (written.push(s), true) } as unknown as NodeJS.WriteStream };
}

test('progress: a bar with counts and time left on a terminal, plain lines at every quarter otherwise', () => {
  assert.equal(progressBar(0.5, 10), '[#####.....]');
  assert.equal(progressBar(1.2, 4), '[####]');
  const tty = stream(true);
  const p = new StderrProgress(tty.stream);
  p.start('decoding', 200);
  p.update(100);
  p.log('a message');
  p.update(200);
  p.end();
  const text = tty.written.join('');
  assert.match(text, /decoding \[#{12}\.{12}\] 100\/200 \(50%\) [\d.]+s elapsed, [\d.]+s left/);
  // eslint-disable-next-line no-control-regex -- the escape that clears a terminal line is what is checked
  assert.match(text, /\r\x1b\[Ka message\ndecoding \[#{12}/, 'a log line clears the bar and redraws it');
  assert.match(text, /decoding \[#{24}\] 200\/200 \(100%\)/);
  assert.ok(text.endsWith('\n'));

  const plain = stream(false);
  const q = new StderrProgress(plain.stream);
  q.start('evaluation', 100);
  for (let i = 1; i <= 100; i++) q.update(i);
  assert.deepEqual(
    plain.written.map((l) => l.replace(/ [\d.]+s elapsed, [\d.]+s left/, '')),
    [
      'evaluation: 1/100 (1%)\n',
      'evaluation: 25/100 (25%)\n',
      'evaluation: 50/100 (50%)\n',
      'evaluation: 75/100 (75%)\n',
      'evaluation: 100/100 (100%)\n',
    ],
  );
  assert.ok(
    plain.written.every((l) => !l.includes('\r') && !l.includes('[#')),
    'no control characters or bars in logs',
  );
});
