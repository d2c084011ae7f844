// What a hostile user tries: each case once broke evolq (a hang, lost files, a stack trace, a meaningless
// success); here each ends in one clear line, exit code 1, and nothing half-written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { BIN, ROOT, ASSETS, DEFAULT_MODEL, tempDir, buildModel, bytesOf, randomTensor } from '../helpers.js';
import { Rng } from '../../src/rng.js';
import { onnx, type ModelProto } from '../../src/onnx/proto.js';

const CALIB = join(ASSETS, 'cifar10/calib');
const TEST = join(ASSETS, 'cifar10/test');
const isRoot = process.getuid?.() === 0;

function evolq(args: string[], options: { uid?: number; gid?: number } = {}) {
  // A hang fails the test instead of stalling the suite.
  const result = spawnSync(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 120_000,
    ...options,
  });
  return { code: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
}

/** Exit code 1, one line that matches, no stack trace, nothing on stdout. */
function assertFails(args: string[], pattern: RegExp, options: { uid?: number; gid?: number } = {}) {
  const result = evolq(args, options);
  assert.equal(result.signal, null, `${args.join(' ')} did not end by itself`);
  assert.equal(result.code, 1, `exit code for ${args.join(' ')}: ${result.stderr}`);
  const lines = result.stderr
    .trim()
    .split('\n')
    .filter((l) => !/^[a-z ]+: \d+\/\d+ \(/.test(l));
  assert.equal(lines.length, 1, `one line: ${result.stderr}`);
  assert.match(lines[0], pattern);
  assert.match(lines[0], /^evolq \w+: (?!evolq)/, 'the command prefix once');
  assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
  assert.equal(result.stdout, '');
  return lines[0];
}

const small = (out: string, ...extra: string[]) => [
  'quantize',
  '--no-float-fallback',
  DEFAULT_MODEL,
  '--calib',
  CALIB,
  '--out',
  out,
  '--calib-size',
  '20',
  '--holdout',
  '5',
  '--quiet',
  ...extra,
];

/** Everything in `dir`, sorted: files evolq leaves behind (staging, lock, set-aside output) show up here. */
const listing = (dir: string) => readdirSync(dir).sort();

/** A model folder with the bundled model's configs and the given graph. */
function modelFolder(name: string, model: Uint8Array): string {
  const dir = join(tempDir(), name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'model.onnx'), model);
  copyFileSync(join(DEFAULT_MODEL, 'preprocessor_config.json'), join(dir, 'preprocessor_config.json'));
  copyFileSync(join(DEFAULT_MODEL, 'config.json'), join(dir, 'config.json'));
  return dir;
}

test('--method evolq on a model with no search units fails at once instead of looping', () => {
  const rng = new Rng(3);
  const cnn = modelFolder(
    'plain-cnn',
    bytesOf(
      buildModel({
        inputs: [{ name: 'pixel_values', shape: ['N', 3, 32, 32] }],
        outputs: ['logits'],
        inits: [
          { name: 'Wc', dims: [8, 3, 3, 3], values: randomTensor(rng, 216, 0.3) },
          { name: 'Wf', dims: [10, 8], values: randomTensor(rng, 80, 0.5) },
        ],
        nodes: [
          { op: 'Conv', inputs: ['pixel_values', 'Wc'], outputs: ['c'], attrs: { pads: [1, 1, 1, 1] } },
          { op: 'Relu', inputs: ['c'], outputs: ['r'] },
          { op: 'GlobalAveragePool', inputs: ['r'], outputs: ['p'] },
          { op: 'Flatten', inputs: ['p'], outputs: ['f'] },
          { op: 'Gemm', inputs: ['f', 'Wf'], outputs: ['logits'], attrs: { transB: 1 } },
        ],
      }),
    ),
  );
  const parent = tempDir();
  assertFails(
    [
      'quantize',
      '--no-float-fallback',
      cnn,
      '--calib',
      CALIB,
      '--out',
      join(parent, 'o'),
      '--calib-size',
      '20',
      '--holdout',
      '5',
      '--method',
      'evolq',
    ],
    /no attention search units .*use --method baseline/,
  );
  assert.deepEqual(listing(parent), []);
});

test('an evolq output fed back in as the model is refused as already quantized', () => {
  const parent = tempDir();
  assert.equal(evolq(small(join(parent, 'o'))).code, 0);
  assertFails(
    [
      'quantize',
      '--no-float-fallback',
      join(parent, 'o'),
      '--calib',
      CALIB,
      '--out',
      join(parent, 'again'),
      '--calib-size',
      '20',
      '--holdout',
      '5',
      '--method',
      'evolq',
    ],
    /o\/model\.onnx: is already quantized \(\d+ QuantizeLinear, DequantizeLinear nodes\)/,
  );
  assert.deepEqual(listing(parent), ['o']);
});

test("--out holding the user's files next to evolq's is refused and left untouched, by quantize and by landscape", () => {
  const parent = tempDir();
  const out = join(parent, 'o');
  assert.equal(evolq(small(out)).code, 0);
  writeFileSync(join(out, 'notes.txt'), 'mine');
  mkdirSync(join(out, 'plots'));
  writeFileSync(join(out, 'plots', 'a.svg'), '<svg/>');
  const before = listing(out);
  assertFails(small(out), /--out .*\/o: holds files evolq did not write \(notes\.txt, plots\)/);
  assertFails(
    [
      'landscape',
      DEFAULT_MODEL,
      '--calib',
      CALIB,
      '--out',
      out,
      '--calib-size',
      '20',
      '--eval-limit',
      '10',
      '--points',
      '3',
      '--grid',
      '0',
      '--quiet',
    ],
    /holds files evolq did not write \(notes\.txt, plots\)/,
  );
  assert.deepEqual(listing(out), before);
  assert.equal(readFileSync(join(out, 'plots', 'a.svg'), 'utf8'), '<svg/>');
  assert.deepEqual(listing(parent), ['o'], 'no staging folder or lock left');
});

test('an output set aside by a commit that was cut short is put back by the next run', () => {
  const parent = tempDir();
  const out = join(parent, 'o');
  assert.equal(evolq(small(out)).code, 0);
  const model = readFileSync(join(out, 'model.onnx'));
  // A crash between the commit's two renames leaves the previous output here and no target.
  renameSync(out, join(parent, '.o.old'));
  assertFails(small(out, '--w-bits', '5'), /--w-bits/);
  assertFails(small(out, '--holdout', '0'), /--holdout 0/);
  assert.deepEqual(listing(parent), ['.o.old'], 'option errors come before the output folder is touched');
  assertFails(
    ['quantize', DEFAULT_MODEL, '--calib', join(parent, 'missing'), '--out', out],
    /missing: no such image folder/,
  );
  assert.equal(evolq(small(out, '--w-bits', '4')).code, 0);
  assert.deepEqual(listing(parent), ['o']);
  assert.notDeepEqual(readFileSync(join(out, 'model.onnx')), model, 'the new output replaced the restored one');
});

test("two runs into the same --out: the second is refused naming the first one's pid, the first completes", async () => {
  const parent = tempDir();
  const out = join(parent, 'o');
  const first = spawn(process.execPath, [BIN, ...small(out).map((a) => (a === '20' ? '300' : a))], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const done = new Promise<number | null>((ok) => first.on('exit', ok));
  const lock = join(parent, '.o.lock');
  for (let i = 0; i < 600 && !existsSync(lock); i++) await new Promise((ok) => setTimeout(ok, 50));
  assert.ok(existsSync(lock), 'the first run holds the lock');
  assertFails(small(out), new RegExp(`another evolq run \\(pid ${first.pid} on .*\\) is writing it`));
  assert.equal(await done, 0, 'the first run is not disturbed');
  assert.deepEqual(listing(parent), ['o']);
  // A lock left by a process that is gone is taken over.
  writeFileSync(
    lock,
    JSON.stringify({
      pid: 2 ** 22 + 12345,
      host: execFileSync('hostname', { encoding: 'utf8' }).trim(),
      started: 'then',
    }),
  );
  assert.equal(evolq(small(out)).code, 0);
  assert.deepEqual(listing(parent), ['o']);
});

test('numbers that mean nothing are refused: --holdout 0 without --eval or with evolq, image_std of zeros', () => {
  const parent = tempDir();
  const out = join(parent, 'o');
  assertFails(small(out, '--holdout', '0'), /--holdout 0 without --eval leaves no images/);
  assertFails(
    [...small(out, '--holdout', '0', '--method', 'evolq'), '--eval', TEST],
    /--holdout 0: --method evolq keeps the pass that is best on the holdout/,
  );
  assertFails(small(out, '--eval-limit', '100'), /--eval-limit limits the --eval images; give --eval DIR too/);
  const zeroStd = modelFolder('zero-std', readFileSync(join(DEFAULT_MODEL, 'model.onnx')));
  const config = JSON.parse(readFileSync(join(zeroStd, 'preprocessor_config.json'), 'utf8'));
  writeFileSync(join(zeroStd, 'preprocessor_config.json'), JSON.stringify({ ...config, image_std: [0, 0, 0] }));
  assertFails(
    ['quantize', zeroStd, '--calib', CALIB, '--out', out, '--calib-size', '20', '--holdout', '5'],
    /preprocessor_config\.json: 'image_std' has a zero/,
  );
  assertFails(['eval', zeroStd, '--data', TEST, '--limit', '10'], /'image_std' has a zero/);
  assert.deepEqual(listing(parent), []);
});

test('file system errors are one line with exit 1: read-only parent, a file as parent, a folder or FIFO as model.onnx', () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'file'), '');
  assertFails(small(join(dir, 'file', 'o')), /--out .*\/file\/o: .*\/file is not a folder/);
  mkdirSync(join(dir, 'folder-model', 'model.onnx'), { recursive: true });
  assertFails(
    ['inspect', join(dir, 'folder-model')],
    /folder-model\/model\.onnx: is a folder, expected an ONNX model file/,
  );
  execFileSync('mkfifo', [join(dir, 'fifo.onnx')]);
  assertFails(['inspect', join(dir, 'fifo.onnx')], /fifo\.onnx: is not a regular file, expected an ONNX model file/);
  assertFails(['serve', DEFAULT_MODEL, '--port', '70000'], /--port must be an integer in 0\.\.65535, got "70000"/);

  const readOnly = join(dir, 'read-only');
  mkdirSync(readOnly);
  chmodSync(dir, 0o755);
  chmodSync(readOnly, 0o555);
  // Root ignores permission bits, so the run drops to nobody (uid 65534) where the suite runs as root.
  const asUser = isRoot ? { uid: 65534, gid: 65534 } : {};
  assertFails(small(join(readOnly, 'o')), /read-only\/\.o\.lock: permission denied \(EACCES/, asUser);
  assertFails(small(join(readOnly, 'sub', 'o')), /read-only\/sub: permission denied \(EACCES/, asUser);
  assert.deepEqual(listing(readOnly), []);
});

test("dead ends are gone: negative numbers, hex and exponents, --mean/--std for quantize, landscape's own flag names", () => {
  const parent = tempDir();
  const out = join(parent, 'o');
  assertFails(small(out, '--calib-size', '-3'), /--calib-size must be an integer >= 1, got "-3"/);
  assertFails(small(out, '--temperature', '-1'), /--temperature must be a positive number, got "-1"/);
  assertFails(small(out, '--w-bits', '0x8'), /Unsupported --w-bits: "0x8"/);
  assertFails(small(out, '--calib-size', '1e2'), /--calib-size must be an integer >= 1, got "1e2"/);
  assertFails(small(out, '--seed', ''), /--seed must be an integer/);
  assertFails(
    ['quantize', DEFAULT_MODEL, '--calib', CALIB, '--frobnicate'],
    /^evolq quantize: Unknown option '--frobnicate'$/,
  );
  assertFails(
    ['landscape', DEFAULT_MODEL, '--calib', CALIB, '--out', out, '--calib-size', '1200', '--quiet'],
    /--calib-size 1200 plus --eval-limit 500 is more than the 1200 images/,
  );

  // A bare .onnx: the error names flags that quantize takes, and with them it runs.
  const file = join(tempDir(), 'vit.onnx');
  copyFileSync(join(DEFAULT_MODEL, 'model.onnx'), file);
  const message = assertFails(
    ['quantize', file, '--calib', CALIB, '--out', out, '--calib-size', '20', '--holdout', '5'],
    /give --mean and --std/,
  );
  assert.match(message, /--mean/);
  const ok = evolq([
    'quantize',
    '--no-float-fallback',
    file,
    '--calib',
    CALIB,
    '--out',
    out,
    '--calib-size',
    '20',
    '--holdout',
    '5',
    '--quiet',
    '--json',
    '--mean',
    '0.4914,0.4822,0.4465',
    '--std',
    '0.247,0.2435,0.2616',
    // A bare .onnx has no id2label: its calibration images are unlabeled, and top-1 comes from --eval.
    '--eval',
    TEST,
    '--eval-limit',
    '50',
  ]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.ok(JSON.parse(ok.stdout).fp.top1 > 0.3, 'the given mean and std were used');
  assertFails(
    ['quantize', file, '--calib', CALIB, '--out', join(parent, 'p'), '--mean', '0x1,0,0', '--std', '1,1,1'],
    /--mean must be comma-separated numbers/,
  );
});

test('a damaged checkpoint is refused before any image is decoded', () => {
  const parent = tempDir();
  const out = join(parent, 'o');
  mkdirSync(join(parent, '.o.partial'));
  writeFileSync(
    join(parent, '.o.partial', 'checkpoint.json'),
    '{"format": "evolq-checkpoint/3", "fingerprint": "x", "state": {}}',
  );
  const result = evolq([...small(out, '--method', 'evolq', '--resume').filter((a) => a !== '--quiet')]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /--resume: .*checkpoint\.json was written with other settings/);
  assert.doesNotMatch(result.stderr, /decoding|calibration/, 'refused before decoding and calibration');
  assert.ok(existsSync(join(parent, '.o.partial', 'checkpoint.json')), "the checkpoint is the user's to remove");
  assert.ok(!existsSync(join(parent, '.o.lock')));
});

test('Ctrl-C during calibration says what it removed and leaves no staging folder or lock', async () => {
  const parent = tempDir();
  const out = join(parent, 'o');
  const child = spawn(
    process.execPath,
    [
      BIN,
      'quantize',
      '--no-float-fallback',
      DEFAULT_MODEL,
      '--calib',
      CALIB,
      '--out',
      out,
      '--calib-size',
      '1000',
      '--holdout',
      '100',
    ],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exit = new Promise<[number | null, string | null]>((ok) =>
    child.on('exit', (code, signal) => ok([code, signal])),
  );
  for (let i = 0; i < 1200 && !/calibration/.test(stderr); i++) await new Promise((ok) => setTimeout(ok, 25));
  assert.match(stderr, /calibration/, 'calibration started');
  child.kill('SIGINT');
  assert.deepEqual(await exit, [130, null]);
  assert.match(
    stderr,
    /evolq quantize: interrupted by SIGINT; removed the unfinished .*\.o\.partial; .*\/o is as it was/,
  );
  assert.deepEqual(listing(parent), []);
});

test('a corrupt image among 1,000 is named; --skip-bad-images goes on and lists it in report.json', () => {
  const parent = tempDir();
  const calib = join(parent, 'calib');
  cpSync(CALIB, calib, { recursive: true });
  const broken = join(calib, 'dog', '0007.jpg');
  writeFileSync(broken, readFileSync(broken).subarray(0, 60));
  const args = [
    'quantize',
    '--no-float-fallback',
    DEFAULT_MODEL,
    '--calib',
    calib,
    '--out',
    join(parent, 'o'),
    '--calib-size',
    '1000',
    '--holdout',
    '200',
    '--quiet',
  ];
  assertFails(args, /calib\/dog\/0007\.jpg: cannot decode image/);
  assert.deepEqual(listing(parent), ['calib']);
  const result = evolq([...args, '--skip-bad-images', '--json']);
  assert.equal(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout);
  assert.equal(report.skippedImages.length, 1);
  assert.equal(report.skippedImages[0].file, broken);
  assert.match(report.skippedImages[0].reason, /cannot decode image/);
  assert.equal(report.settings.skipBadImages, true);
  // Accuracy is measured on the holdout split: 200 images, or 199 where the broken one was drawn into it.
  assert.ok([199, 200].includes(report.evaluatedOn.n), `evaluated on ${report.evaluatedOn.n}`);
});

test('a FIFO named like an image is refused by name, not waited on: eval ends with one line', () => {
  const data = join(tempDir(), 'data');
  for (const label of readdirSync(TEST).slice(0, 2)) {
    mkdirSync(join(data, label), { recursive: true });
    for (const f of readdirSync(join(TEST, label)).slice(0, 3))
      copyFileSync(join(TEST, label, f), join(data, label, f));
  }
  const fifo = join(data, readdirSync(TEST)[0], 'x.jpg');
  execFileSync('mkfifo', [fifo]);
  assertFails(['eval', DEFAULT_MODEL, '--data', data], /x\.jpg: is a FIFO, not an image file; remove it/);
});

test('external data outside the model folder is refused before anything reads it', () => {
  const dir = join(tempDir(), 'model');
  cpSync(DEFAULT_MODEL, dir, { recursive: true });
  const model = buildModel({
    inputs: [{ name: 'pixel_values', shape: ['N', 3, 32, 32] }],
    outputs: ['logits'],
    inits: [{ name: 'W', dims: [3072, 10], values: randomTensor(new Rng(1), 30720) }],
    nodes: [
      { op: 'Flatten', inputs: ['pixel_values'], outputs: ['f'] },
      { op: 'MatMul', inputs: ['f', 'W'], outputs: ['logits'] },
    ],
  });
  const w = model.graph!.initializer![0];
  w.rawData = new Uint8Array(0);
  w.floatData = [];
  w.dataLocation = 1; // EXTERNAL
  w.externalData = [{ key: 'location', value: '../../../../../../etc/passwd' }];
  writeFileSync(join(dir, 'model.onnx'), bytesOf(model));
  for (const command of ['quantize', 'landscape']) {
    const out = join(tempDir(), 'out');
    assertFails(
      [command, dir, '--calib', CALIB, '--out', out],
      /model\.onnx: initializer 'W' names external data at '\.\.\/\.\.\/\.\.\/\.\.\/\.\.\/\.\.\/etc\/passwd', outside the model's folder/,
    );
    assert.ok(!existsSync(out));
  }
});

/** A model folder (modelFolder above) from buildModel's spec, edited before it is written. */
function builtFolder(name: string, spec: Parameters<typeof buildModel>[0], edit?: (m: ModelProto) => void): string {
  const model = buildModel(spec);
  edit?.(model);
  return modelFolder(name, bytesOf(model));
}

const linear = (
  input: { name: string; shape: (number | string)[] },
  extra: Partial<Parameters<typeof buildModel>[0]> = {},
) => ({
  inputs: [input],
  outputs: ['logits'],
  inits: [{ name: 'W', dims: [3072, 10], values: randomTensor(new Rng(2), 30720) }],
  nodes: [
    { op: 'Flatten', inputs: [input.name], outputs: ['f'] },
    { op: 'MatMul', inputs: ['f', 'W'], outputs: ['logits'] },
  ],
  ...extra,
});

test('models evolq cannot run are refused by what they are: two inputs, a fixed batch, float16 weights, NaN logits, nothing to quantize', () => {
  const image = { name: 'pixel_values', shape: ['N', 3, 32, 32] };
  const twoInputs = builtFolder('two', {
    ...linear(image),
    inputs: [image, { name: 'mask', shape: ['N', 10] }],
    outputs: ['out'],
    nodes: [...linear(image).nodes, { op: 'Add', inputs: ['logits', 'mask'], outputs: ['out'] }],
  });
  const fixed = builtFolder('fixed', linear({ name: 'pixel_values', shape: [1, 3, 32, 32] }));
  const nhwc = builtFolder('nhwc', linear({ name: 'pixel_values', shape: ['N', 32, 32, 3] }));
  const half = builtFolder('half', linear(image), (m) => {
    const w = m.graph!.initializer![0];
    w.dataType = 10; // FLOAT16
    w.floatData = [];
    w.rawData = new Uint8Array(30720 * 2);
  });
  const nan = builtFolder('nan', linear(image), (m) => {
    m.graph!.initializer![0].rawData = new Uint8Array(new Float32Array(30720).fill(NaN).buffer);
  });
  const eval_ = (dir: string) => ['eval', dir, '--data', TEST, '--limit', '20'];
  assertFails(
    eval_(twoInputs),
    /two\/model\.onnx: the model has 2 inputs \(pixel_values, mask\); evolq feeds one image input/,
  );
  assertFails(eval_(fixed), /fixed\/model\.onnx: input 'pixel_values' has a fixed batch of 1; .*dynamic batch axis/);
  assertFails(
    eval_(nhwc),
    /nhwc\/model\.onnx: input 'pixel_values' \[N, 32, 32, 3\] is channels-last; evolq takes channels-first/,
  );
  assertFails(eval_(half), /half\/model\.onnx: weight 'W' is float16; evolq quantizes float32 models/);
  assertFails(eval_(nan), /output 'logits' is NaN for image 1 of the evaluation: the model, or its preprocessing/);
  const nothing = builtFolder('nothing', {
    inputs: [image],
    outputs: ['logits'],
    nodes: [
      { op: 'GlobalAveragePool', inputs: ['pixel_values'], outputs: ['g'] },
      { op: 'Flatten', inputs: ['g'], outputs: ['logits'] },
    ],
  });
  const out = join(tempDir(), 'out');
  assertFails(
    [...small(out).map((a) => (a === DEFAULT_MODEL ? nothing : a))],
    /nothing\/model\.onnx: no layer with weights to quantize/,
  );
  assert.ok(!existsSync(out));
});

test('a bare .onnx: --mean/--std of the wrong length and a missing --size name the flag, not a file that is not there', () => {
  const dir = tempDir();
  const bare = join(dir, 'model.onnx');
  writeFileSync(
    bare,
    bytesOf(
      buildModel({
        inputs: [{ name: 'pixel_values', shape: ['N', 3, 'H', 'W'] }],
        outputs: ['logits'],
        inits: [{ name: 'W', dims: [3, 10], values: randomTensor(new Rng(4), 30) }],
        nodes: [
          { op: 'GlobalAveragePool', inputs: ['pixel_values'], outputs: ['g'] },
          { op: 'Flatten', inputs: ['g'], outputs: ['f'] },
          { op: 'MatMul', inputs: ['f', 'W'], outputs: ['logits'] },
        ],
      }),
    ),
  );
  const run = (...extra: string[]) => ['eval', bare, '--data', TEST, '--limit', '10', ...extra];
  assertFails(
    run('--mean', '0.5,0.5', '--std', '0.5,0.5,0.5', '--size', '32'),
    /--mean has 2 values, the model takes 3 channels/,
  );
  assertFails(
    run('--mean', '0.5', '--std', '1,1,1,1', '--size', '32'),
    /--std has 4 values, the model takes 3 channels/,
  );
  assertFails(run('--mean', '0.5', '--std', '0.5'), /model\.onnx: its input size is dynamic .*; give --size HxW/);
  const ok = evolq(run('--mean', '0.5', '--std', '0.5', '--size', '32'));
  assert.equal(ok.code, 0, ok.stderr);
});

test('second round: the output folder, links, labels, drawings and flags that once lost files, hung or said too little', () => {
  const dir = tempDir();
  // --out over the model's own folder, the root, a name with no room for the staging folder beside it.
  const model = join(dir, 'model');
  cpSync(DEFAULT_MODEL, model, { recursive: true });
  assertFails(
    small(join(model), '--method', 'baseline').map((a) => (a === DEFAULT_MODEL ? model : a)),
    /holds the model being quantized/,
  );
  assert.ok(existsSync(join(model, 'model.onnx')));
  assertFails(small('/'), /--out \/: the root folder cannot be an output folder/);
  assertFails(small(join(dir, 'x'.repeat(250))), /its name is 250 bytes, .* at most 240/);
  // A failing run leaves no empty folders it made for --out.
  const deep = join(dir, 'new', 'deeper', 'out');
  assertFails(small(deep, '--calib-size', '5000'), /--calib-size 5000 plus --holdout 5 is more than/);
  assert.ok(!existsSync(join(dir, 'new')), 'no folders left behind');
  // Flags that meant nothing together, or too much for this machine.
  assertFails(
    small(join(dir, 'o'), '--resume'),
    /--resume continues an interrupted search, and --method baseline runs none/,
  );
  assertFails(small(join(dir, 'o'), '--threads', '1000'), /--threads 1000 is more than 4× this machine's \d+ cores/);

  // Data: a link that leads nowhere, a drawing named .png.
  const data = join(dir, 'data');
  for (const label of ['cat', 'dog']) cpSync(join(TEST, label), join(data, label), { recursive: true });
  symlinkSync(join(dir, 'gone'), join(data, 'horse'));
  assertFails(['eval', DEFAULT_MODEL, '--data', data], /data\/horse: a link that leads nowhere; remove it/);
  rmSync(join(data, 'horse'));
  writeFileSync(join(data, 'cat', 'zz.png'), '<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>');
  assertFails(['eval', DEFAULT_MODEL, '--data', data], /zz\.png: .*is an SVG drawing, not a raster image/);

  // config.json that is not this model's: a key that is no index, more classes than the model outputs.
  const config = JSON.parse(readFileSync(join(DEFAULT_MODEL, 'config.json'), 'utf8'));
  writeFileSync(join(model, 'config.json'), JSON.stringify({ ...config, id2label: { ...config.id2label, a: 'x' } }));
  assertFails(['eval', model, '--data', TEST], /config\.json: id2label key 'a' is not an index 0\.\.10/);
  writeFileSync(join(model, 'config.json'), JSON.stringify({ ...config, id2label: { ...config.id2label, 10: 'x' } }));
  assertFails(['eval', model, '--data', TEST], /config\.json: id2label names 11 classes and the model outputs 10/);
});

test('a model with two outputs (features, logits) is not scored on the first without a word: --output picks one', () => {
  const image = { name: 'pixel_values', shape: ['N', 3, 32, 32] };
  const twoOutputs = builtFolder('two-outputs', {
    ...linear(image),
    outputs: ['features', 'logits'],
    inits: [...linear(image).inits, { name: 'P', dims: [10, 4], values: randomTensor(new Rng(5), 40) }],
    nodes: [...linear(image).nodes, { op: 'MatMul', inputs: ['logits', 'P'], outputs: ['features'] }],
  });
  const eval_ = (...extra: string[]) => ['eval', twoOutputs, '--data', TEST, '--limit', '20', ...extra];
  assertFails(
    eval_(),
    /model\.onnx: the model has 2 outputs \(features \[.*\], logits \[.*\]\); give --output NAME for the one to score/,
  );
  assertFails(eval_('--output', 'probs'), /--output probs: the model has no such output; its outputs: features/);
  assert.equal(evolq(eval_('--output', 'logits')).code, 0);
  const out = join(tempDir(), 'out');
  const quantized = evolq([...small(out, '--output', 'logits').map((a) => (a === DEFAULT_MODEL ? twoOutputs : a))]);
  assert.equal(quantized.code, 0, quantized.stderr);
  const exported = onnx.ModelProto.decode(readFileSync(join(out, 'model.onnx')));
  assert.deepEqual(
    exported.graph!.output!.map((o) => o.name),
    ['logits'],
    'model.onnx keeps the output it was scored on',
  );
  assert.ok(!exported.graph!.initializer!.some((t) => t.name === 'P'), 'and not the weights only the other one read');
});
