import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  readFileSync,
  readdirSync,
  mkdirSync,
  writeFileSync,
  copyFileSync,
  cpSync,
  statSync,
} from 'node:fs';
import { join, dirname, basename } from 'node:path';
import { BIN, ROOT, FIXTURES, ASSETS, DEFAULT_MODEL, tempDir, buildModel, bytesOf } from '../helpers.js';

function evolq(...args: string[]) {
  const result = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8' });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const CALIB = join(ASSETS, 'cifar10/calib');
const TEST = join(ASSETS, 'cifar10/test');

test('npx evolq --help lists the commands', () => {
  const result = evolq('--help');
  assert.equal(result.code, 0);
  for (const command of ['inspect', 'eval', 'quantize'])
    assert.match(result.stdout, new RegExp(`evolq ${command} MODEL`));
});

test('inspect --json has the documented shape on every fixture model', () => {
  const models = [
    DEFAULT_MODEL,
    ...readdirSync(FIXTURES)
      .map((n) => join(FIXTURES, n))
      .filter((dir) => existsSync(join(dir, 'model.onnx'))),
  ];
  assert.ok(models.length >= 6, 'the bundled ViT and the five fixtures');
  for (const dir of models) {
    const name = basename(dir);
    const result = evolq('inspect', dir, '--json');
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout);
    assert.ok(report.units.length > 0, name);
    const ids = new Set(report.points.map((p: { id: string }) => p.id));
    for (const p of report.points) {
      // A role says why a point beyond the op handlers' is there (a Conv output by default: --conv-outputs).
      const keys = Object.keys(p).filter((k) => k !== 'role');
      assert.deepEqual(keys.sort(), ['id', 'kind', 'node', 'tensor']);
      assert.ok(p.role === undefined || typeof p.role === 'string');
      assert.ok(['weight', 'activation', 'layernorm', 'softmax'].includes(p.kind));
    }
    for (const u of report.units) {
      assert.ok(['attention', 'block'].includes(u.kind));
      assert.ok(u.points.length >= 2 && u.points.every((id: string) => ids.has(id)), `${name} ${u.name}`);
    }
  }
});

test('eval --json gives top-1, top-5 and n on a class-balanced subset', () => {
  const result = evolq('eval', DEFAULT_MODEL, '--data', TEST, '--limit', '500', '--json', '--quiet');
  assert.equal(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout);
  assert.equal(report.n, 500);
  assert.ok(report.top1 > 0.5 && report.top1 <= report.top5 && report.top5 <= 1);
  assert.deepEqual([report.task, report.warnings], ['image-classification', []]);
});

test('quantize --method baseline writes quant.json, report.json and a simulation model that reproduces the report', () => {
  const out = join(tempDir(), 'w4a8');
  const result = evolq(
    'quantize',
    '--no-float-fallback',
    DEFAULT_MODEL,
    '--calib',
    CALIB,
    '--calib-size',
    '300',
    '--holdout',
    '50',
    '--eval',
    TEST,
    '--eval-limit',
    '300',
    '--w-bits',
    '4',
    '--no-float-fallback',
    '--keep-simulation',
    '--out',
    out,
    '--json',
  );
  assert.equal(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout);
  for (const key of ['settings', 'fp', 'baseline', 'timing', 'search']) assert.ok(key in report, key);
  assert.equal(report.settings.wBits, 4);
  assert.equal(report.runtime.device, 'cpu', 'report.json says which execution provider ran');
  assert.equal(report.evaluatedOn.n, 300);
  assert.ok(report.baseline.top1 > 0.4, 'W4A8 keeps most of the accuracy');
  // The verdict: model.onnx against float on the same 300 images, with its interval.
  const v = report.verdict;
  assert.equal(v.n, 300);
  assert.equal(v.top1, report.exported.top1);
  assert.ok(Math.abs(v.vsFloat.points - 100 * (report.exported.top1 - report.fp.top1)) < 1e-9);
  assert.ok(v.vsFloat.low <= v.vsFloat.points && v.vsFloat.points <= v.vsFloat.high);
  assert.equal(v.vsBaseline, undefined, 'no search, no comparison with the baseline');
  assert.match(v.text, /^W4A8 baseline model\.onnx: top-1 \d+\.\d\d vs float \d+\.\d\d \([−+]\d+\.\d\d \[/);
  assert.match(result.stderr, /calibration: 300\/300/, 'progress on stderr');
  // The timing's numbers only: the machine is shared, so no ratio is asserted.
  const speed = report.exported.speed;
  assert.equal(speed.batchSize, 100);
  assert.ok(speed.rounds >= 3);
  for (const model of [speed.float, speed.quantized])
    for (const key of ['batch1Ms', 'batchMs', 'imagesPerSecond']) assert.ok(model[key] > 0, key);
  assert.ok(speed.speedup.batch1 > 0 && speed.speedup.batch > 0);
  assert.equal(typeof speed.cpu.model, 'string');
  assert.ok(Array.isArray(report.warnings));
  assert.deepEqual(readdirSync(out).sort(), [
    '.evolq-files.json',
    'config.json',
    'model.onnx',
    'onnx',
    'preprocessor_config.json',
    'quant.json',
    'report.html',
    'report.json',
    'simulation.onnx',
  ]);
  assert.deepEqual(JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')), report);
  // report.json says what each file is for, and its size.
  const listed = new Map(report.files.map((f: { name: string; bytes: number | null }) => [f.name, f.bytes]));
  assert.equal(listed.get('model.onnx'), statSync(join(out, 'model.onnx')).size);
  assert.equal(listed.get('simulation.onnx'), statSync(join(out, 'simulation.onnx')).size);
  assert.equal(listed.get('report.json'), null);
  const quant = JSON.parse(readFileSync(join(out, 'quant.json'), 'utf8'));
  assert.equal(quant.points.length, 90, "89 and the patch embedding's Conv output");
  for (const p of quant.points) {
    assert.equal(p.quantizer, 'uniform');
    assert.equal(p.bits, p.kind === 'weight' ? 4 : 8);
    assert.ok(p.scale.every((s: number) => s > 0) && p.zero_point.every(Number.isInteger));
  }
  const simulated = evolq('eval', join(out, 'simulation.onnx'), '--data', TEST, '--limit', '300', '--json', '--quiet');
  assert.equal(simulated.code, 0, simulated.stderr);
  assert.equal(
    JSON.parse(simulated.stdout).top1,
    report.baseline.top1,
    'simulation.onnx is the model the report measured',
  );
  const exported = evolq('eval', out, '--data', TEST, '--limit', '300', '--json', '--quiet');
  assert.equal(exported.code, 0, exported.stderr);
  assert.equal(
    JSON.parse(exported.stdout).top1,
    report.exported.top1,
    'OUT/model.onnx is the exported model the report measured',
  );
});

test('quantize is deterministic for a seed', () => {
  const run = (seed: string) => {
    const out = join(tempDir(), 'o');
    const r = evolq(
      'quantize',
      '--no-float-fallback',
      DEFAULT_MODEL,
      '--calib',
      CALIB,
      '--calib-size',
      '100',
      '--holdout',
      '20',
      '--seed',
      seed,
      '--out',
      out,
      '--quiet',
      '--keep-simulation',
    );
    assert.equal(r.code, 0, r.stderr);
    return readFileSync(join(out, 'quant.json'), 'utf8');
  };
  assert.equal(run('3'), run('3'));
  assert.notEqual(run('3'), run('4'));
});

// Bad input: one line naming the file or option, exit code 1, no output folder.
function assertFails(args: string[], pattern: RegExp, out?: string) {
  const result = evolq(...args);
  assert.equal(result.code, 1, `exit code for ${args.join(' ')}: ${result.stderr}`);
  // Progress lines may come first; the error is one line, the last.
  const lines = result.stderr
    .trim()
    .split('\n')
    .filter((l) => !/^[a-z]+: \d+\/\d+ \(/.test(l));
  assert.equal(lines.length, 1, `one line: ${result.stderr}`);
  assert.match(lines[0], pattern);
  assert.match(lines[0], /^evolq[ :]/);
  assert.equal(result.stdout, '');
  if (out) {
    assert.ok(!existsSync(out), 'no output folder');
    assert.ok(!readdirSync(dirname(out)).some((f) => f.includes(`${basename(out)}.partial`)), 'no staging folder left');
  }
}

const quantizeArgs = (model: string, calib: string, out: string, ...extra: string[]) => [
  'quantize',
  '--no-float-fallback',
  model,
  '--calib',
  calib,
  '--out',
  out,
  '--calib-size',
  '20',
  '--holdout',
  '5',
  ...extra,
];

test('bad model files: missing, truncated, not ONNX, no image input', () => {
  const dir = tempDir();
  const out = join(dir, 'out');
  assertFails(quantizeArgs(join(dir, 'nope'), CALIB, out), /nope: no such model file or folder/, out);

  const truncated = join(dir, 'truncated');
  mkdirSync(truncated);
  writeFileSync(join(truncated, 'model.onnx'), readFileSync(join(DEFAULT_MODEL, 'model.onnx')).subarray(0, 100_000));
  copyFileSync(join(DEFAULT_MODEL, 'preprocessor_config.json'), join(truncated, 'preprocessor_config.json'));
  assertFails(quantizeArgs(truncated, CALIB, out), /truncated\/model\.onnx: not a readable ONNX model/, out);

  const text = join(dir, 'text.onnx');
  writeFileSync(text, 'hello');
  assertFails(['inspect', text], /text\.onnx: not/);

  const vector = join(dir, 'vector');
  mkdirSync(vector);
  writeFileSync(
    join(vector, 'model.onnx'),
    bytesOf(
      buildModel({
        inputs: [{ name: 'features', shape: ['batch', 8] }],
        outputs: ['y'],
        inits: [{ name: 'W', dims: [8, 2], values: new Float32Array(16) }],
        nodes: [{ op: 'MatMul', inputs: ['features', 'W'], outputs: ['y'] }],
      }),
    ),
  );
  assertFails(quantizeArgs(vector, CALIB, out), /vector\/model\.onnx: no image input/, out);
});

test('bad image folders: missing, empty, corrupt image, classes matching no id2label', () => {
  const dir = tempDir();
  const out = join(dir, 'out');
  assertFails(quantizeArgs(DEFAULT_MODEL, join(dir, 'missing'), out), /missing: no such image folder/, out);
  const empty = join(dir, 'empty');
  mkdirSync(empty);
  assertFails(quantizeArgs(DEFAULT_MODEL, empty, out), /empty: no images .* in it or its subfolders/, out);
  mkdirSync(join(empty, 'cat'));
  assertFails(quantizeArgs(DEFAULT_MODEL, empty, out), /empty: no images/, out);

  const corrupt = join(dir, 'corrupt');
  cpSync(join(TEST, 'cat'), join(corrupt, 'cat'), { recursive: true });
  writeFileSync(join(corrupt, 'cat', '0000.jpg'), readFileSync(join(TEST, 'cat', '0000.jpg')).subarray(0, 40));
  // Every image of the folder is drawn, so the broken one is decoded.
  assertFails(
    ['quantize', DEFAULT_MODEL, '--calib', corrupt, '--out', out, '--calib-size', '190', '--holdout', '10'],
    /cat\/0000\.jpg: cannot decode image/,
    out,
  );

  const strange = join(dir, 'strange');
  cpSync(join(TEST, 'cat'), join(strange, 'kitten'), { recursive: true });
  assertFails(
    quantizeArgs(DEFAULT_MODEL, CALIB, out, '--eval', strange),
    /class folder 'kitten' matches no id2label entry/,
    out,
  );
  assertFails(['eval', DEFAULT_MODEL, '--data', strange], /kitten/);
});

test('--calib takes unlabeled images: a flat folder, a nested tree, a list file; without --eval the verdict is agreement and KL', () => {
  const dir = tempDir();
  const flat = join(dir, 'flat');
  const nested = join(dir, 'nested', 'a', 'b');
  mkdirSync(flat);
  mkdirSync(nested, { recursive: true });
  const files = readdirSync(CALIB).flatMap((c) =>
    readdirSync(join(CALIB, c))
      .slice(0, 4)
      .map((f) => join(CALIB, c, f)),
  );
  files.forEach((f, i) => copyFileSync(f, join(i % 2 ? flat : nested, `${i}.jpg`)));
  const small = (calib: string, out: string, ...extra: string[]) =>
    ['quantize', DEFAULT_MODEL, '--no-float-fallback', '--no-speed', '--calib', calib, '--out', out].concat([
      '--calib-size',
      '12',
      '--holdout',
      '8',
      ...extra,
    ]);
  writeFileSync(
    join(dir, 'list.txt'),
    `# calibration images\n${readdirSync(flat)
      .map((f) => `flat/${f}`)
      .join('\n')}\n`,
  );
  for (const calib of [flat, join(dir, 'nested'), join(dir, 'list.txt')]) {
    const out = join(dir, `out-${calib.split('/').pop()}`);
    const result = evolq(...small(calib, out, '--json'));
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout);
    assert.equal(report.evaluatedOn.labeled, false);
    assert.deepEqual([report.fp.top1, report.exported.top1], [null, null]);
    assert.ok(report.exported.toFloat.agreement > 0.5);
    assert.match(report.verdict.text, /float's top-1 class on \d+\.\d\d% of 8 unlabeled images/);
    assert.match(result.stderr, /unlabeled images .* judged by agreement and KL to float/);
    // A lean folder: what a user ships, and the report; the simulation only with --keep-simulation.
    assert.deepEqual(readdirSync(out).sort(), [
      '.evolq-files.json',
      'config.json',
      'model.onnx',
      'onnx',
      'preprocessor_config.json',
      'report.html',
      'report.json',
    ]);
  }
  // With labelled --eval images, top-1 is back.
  const out = join(dir, 'out-eval');
  const labelled = evolq(...small(flat, out, '--eval', TEST, '--eval-limit', '20', '--json'));
  assert.equal(labelled.code, 0, labelled.stderr);
  assert.equal(JSON.parse(labelled.stdout).evaluatedOn.labeled, true);
  assert.equal(typeof JSON.parse(labelled.stdout).exported.top1, 'number');
  assertFails(
    ['landscape', DEFAULT_MODEL, '--calib', flat, '--out', join(dir, 'l'), '--calib-size', '10', '--eval-limit', '5'],
    /flat: its images have no labels the model knows, and landscape measures top-1: give --eval/,
  );
});

test('bad options: bit widths, unknown flags and values, a calibration set larger than the folder', () => {
  const dir = tempDir();
  const out = join(dir, 'out');
  assertFails(
    quantizeArgs(DEFAULT_MODEL, CALIB, out, '--w-bits', '5'),
    /--w-bits: "5". Should be one of: 8, 4, 3, 2/,
    out,
  );
  assertFails(quantizeArgs(DEFAULT_MODEL, CALIB, out, '--a-bits', '2'), /--a-bits/, out);
  assertFails(
    quantizeArgs(DEFAULT_MODEL, CALIB, out, '--observer', 'mean'),
    /--observer: "mean". Should be one of: minmax, percentile, omse/,
    out,
  );
  assertFails(quantizeArgs(DEFAULT_MODEL, CALIB, out, '--frobnicate'), /Unknown option '--frobnicate'/, out);
  assertFails(
    ['quantize', DEFAULT_MODEL, '--calib', CALIB, '--out', out, '--calib-size', '5000'],
    /--calib-size 5000 plus --holdout 200 is more than the 1200 images/,
    out,
  );
  assertFails(
    ['quantize', DEFAULT_MODEL, '--calib', CALIB, '--out', out, '--calib-size', 'lots'],
    /--calib-size must be an integer/,
    out,
  );
  assertFails(['quantize', DEFAULT_MODEL, '--calib', CALIB], /--out is required/);
  assertFails(['frobnicate'], /unknown command "frobnicate"/);
});

test('an --out folder that holds something else is refused, an earlier evolq output is replaced (--no-speed: untimed)', () => {
  const dir = tempDir();
  const other = join(dir, 'other');
  mkdirSync(other);
  writeFileSync(join(other, 'thesis.tex'), '...');
  assertFails(
    quantizeArgs(DEFAULT_MODEL, CALIB, other),
    /--out .*other: holds files evolq did not write \(thesis\.tex\)/,
  );
  assert.ok(existsSync(join(other, 'thesis.tex')));
  const out = join(dir, 'out');
  for (let i = 0; i < 2; i++)
    assert.equal(evolq(...quantizeArgs(DEFAULT_MODEL, CALIB, out, '--quiet', '--no-speed')).code, 0);
  const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
  assert.ok(!('speed' in report.exported) && !('speed' in report.timing), '--no-speed times nothing');
});

test('a bare .onnx file is evaluated with --mean and --std; without them the error says so', () => {
  const dir = tempDir();
  const file = join(dir, 'vit.onnx');
  copyFileSync(join(DEFAULT_MODEL, 'model.onnx'), file);
  assertFails(
    ['eval', file, '--data', TEST, '--limit', '20'],
    /vit\.onnx: no preprocessor_config\.json beside it; give --mean and --std/,
  );
  const withFlags = evolq(
    'eval',
    file,
    '--data',
    TEST,
    '--limit',
    '100',
    '--mean',
    '0.4914,0.4822,0.4465',
    '--std',
    '0.247,0.2435,0.2616',
    '--json',
    '--quiet',
  );
  const withConfig = evolq('eval', DEFAULT_MODEL, '--data', TEST, '--limit', '100', '--json', '--quiet');
  assert.equal(withFlags.code, 0, withFlags.stderr);
  assert.equal(JSON.parse(withFlags.stdout).top1, JSON.parse(withConfig.stdout).top1);
});

test('--lis writes log2 softmax points; --no-ptf and --observer change the activation quantizers', () => {
  const out = join(tempDir(), 'lis');
  const result = evolq(
    ...quantizeArgs(
      DEFAULT_MODEL,
      CALIB,
      out,
      '--lis',
      '--no-ptf',
      '--observer',
      'percentile',
      '--quiet',
      '--keep-simulation',
    ),
  );
  assert.equal(result.code, 0, result.stderr);
  const quant = JSON.parse(readFileSync(join(out, 'quant.json'), 'utf8'));
  const softmax = quant.points.filter((p: { kind: string }) => p.kind === 'softmax');
  assert.equal(softmax.length, 6);
  assert.ok(softmax.every((p: { quantizer: string; bits: number }) => p.quantizer === 'log2' && p.bits === 4));
  const layernorm = quant.points.filter((p: { kind: string }) => p.kind === 'layernorm');
  assert.ok(layernorm.every((p: { scale: number[]; ptf_alpha?: number[] }) => p.scale.length === 1 && !p.ptf_alpha));
});
