// Faults from outside: a full disk and a SIGTERM at any moment. Either the new output is complete, or the
// old one is there as it was; never a half-written folder, a staging folder or a lock left behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, ROOT, ASSETS, DEFAULT_MODEL, tempDir } from '../helpers.js';
import { Rng } from '../../src/rng.js';

const CALIB = join(ASSETS, 'cifar10/calib');
const args = (out: string, seed = '0') => [
  'quantize',
  '--no-float-fallback',
  DEFAULT_MODEL,
  '--calib',
  CALIB,
  '--out',
  out,
  '--calib-size',
  '50',
  '--holdout',
  '20',
  '--seed',
  seed,
  '--quiet',
  '--keep-simulation',
];

function evolq(argv: string[]) {
  const result = spawnSync(process.execPath, [BIN, ...argv], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  return { code: result.status, stderr: result.stderr };
}

/** The files that make an output what it is (report.json holds timings, which differ run to run). */
const content = (out: string) => ['model.onnx', 'simulation.onnx', 'quant.json'].map((f) => readFileSync(join(out, f)));

function mountTmpfs(dir: string, size: string): string | undefined {
  mkdirSync(dir, { recursive: true });
  const result = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { encoding: 'utf8' });
  return result.status === 0 ? undefined : (result.stderr || result.error?.message || 'mount failed').trim();
}

test('disk full while writing: one line naming ENOSPC, the earlier output intact, nothing else left', (t) => {
  const mountPoint = join(tempDir(), 'small-disk');
  // One output is about 4.7 MB: the first run fits in 7 MB, the second cannot.
  const refused = mountTmpfs(mountPoint, '7m');
  if (refused) {
    t.skip(`needs a small tmpfs (root, mount): ${refused}`);
    return;
  }
  try {
    const out = join(mountPoint, 'o');
    const first = evolq(args(out));
    assert.equal(first.code, 0, first.stderr);
    const before = content(out);
    const second = evolq(args(out, '1'));
    assert.equal(second.code, 1, second.stderr);
    assert.match(
      second.stderr.trim(),
      /^evolq quantize: .*\/o\/\w+\.\w+: no space left on the device \(ENOSPC, write\)$/,
    );
    assert.deepEqual(readdirSync(mountPoint), ['o'], 'no staging folder or lock left');
    assert.deepEqual(content(out), before, 'the earlier output is as it was');
  } finally {
    spawnSync('umount', [mountPoint]);
  }
});

test('SIGTERM at random moments of a run: the output is the old one or the new one, complete, and nothing else is left', async () => {
  const parent = tempDir();
  const out = join(parent, 'o');
  let started = performance.now();
  assert.equal(evolq(args(out)).code, 0);
  let runSeconds = (performance.now() - started) / 1000;
  const old = content(out);
  const reference = join(parent, 'reference');
  started = performance.now();
  assert.equal(evolq(args(reference, '1')).code, 0);
  // The shorter of two runs: on a shared machine one of them may have waited for the cores.
  runSeconds = Math.min(runSeconds, (performance.now() - started) / 1000);
  const fresh = content(reference);
  rmSync(reference, { recursive: true });

  const rng = new Rng(11);
  const outcomes: string[] = [];
  // Moments spread over the whole run, the later ones weighted toward its end (evaluation, export, commit); the
  // first at a quarter of it, which lands before the commit even when the runs' speed varies 3x with the load.
  for (let i = 0; i < 6; i++) {
    const delay = runSeconds * 1000 * (i === 0 ? 0.25 : Math.sqrt(rng.next()) * 1.1);
    const child = spawn(process.execPath, [BIN, ...args(out, '1')], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    // Killed before evolq set up its handlers (while Node loads it), the process simply ends by the signal.
    const exit = new Promise<number | string | null>((ok) => child.on('exit', (code, signal) => ok(code ?? signal)));
    await new Promise((ok) => setTimeout(ok, delay));
    child.kill('SIGTERM');
    const code = await exit;
    assert.ok(code === 143 || code === 0 || code === 'SIGTERM', `exit ${code}: ${stderr}`);
    if (code === 143) assert.match(stderr, /interrupted by SIGTERM/);
    assert.deepEqual(readdirSync(parent), ['o'], `after ${delay.toFixed(0)} ms: nothing but the output`);
    const now = content(out);
    const same = (a: Buffer[]) => a.every((b, k) => b.equals(now[k]));
    assert.ok(same(old) || same(fresh), `after ${delay.toFixed(0)} ms the output is neither the old nor the new one`);
    outcomes.push(same(fresh) && !same(old) ? 'new' : 'old');
    if (same(fresh)) assert.ok(existsSync(join(out, 'report.json')));
  }
  assert.ok(outcomes.includes('old'), `some kill landed before the commit: ${outcomes}`);
});
