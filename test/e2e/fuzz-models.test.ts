// Damaged and hostile model files, generated from a seed: truncated, empty, random bytes, bytes changed, a graph
// edited into nonsense, wrong opsets and IR versions, external data with every kind of bad location, offset and
// length. Whatever the file, evolq ends by itself within a bound, with exit 0 (a change that left a valid model) or
// exit 1 and one line, and never opens a file outside the model's folder (a preload logs every path node:fs opens).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, sep } from 'node:path';
import { ASSETS, BIN, FIXTURES, ROOT, tempDir } from '../helpers.js';
import { Rng } from '../../src/rng.js';
import { onnx, encodeModel, type ModelProto } from '../../src/onnx/proto.js';

const SOURCE = join(FIXTURES, 'vit-cifar10-tiny');
const BASE = readFileSync(join(SOURCE, 'model.onnx'));
const OPEN_LOG_HOOK = join(ROOT, 'dist/test/open-log.js');
const SEED = 7;
/** Each case's bound: the tiny model evaluates in under a second. */
const CASE_TIMEOUT_MS = 60_000;

interface Case {
  name: string;
  /** Writes the model folder's files into `dir` (which exists); `root` is the folder above it, for planted files. */
  write(dir: string, root: string): void;
  /** Whether exit 0 is acceptable (a random change may leave a valid model). */
  mayPass?: boolean;
  /** The one line's pattern when it fails. */
  expect?: RegExp;
  command?: 'eval' | 'quantize';
}

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  opened: string[];
}

function run(args: string[], openLog: string): Promise<Outcome> {
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--import', OPEN_LOG_HOOK, BIN, ...args], {
      cwd: ROOT,
      env: { ...process.env, EVOLQ_TEST_OPEN_LOG: openLog },
      timeout: CASE_TIMEOUT_MS,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code, signal) => {
      const opened = existsSync(openLog) ? readFileSync(openLog, 'utf8').trim().split('\n') : [];
      done({ code, signal, stderr, opened });
    });
  });
}

const decoded = (): ModelProto => onnx.ModelProto.decode(BASE);
const encoded = (model: ModelProto) => onnx.ModelProto.encode(model).finish();
const configs = (dir: string) => {
  for (const f of ['config.json', 'preprocessor_config.json']) copyFileSync(join(SOURCE, f), join(dir, f));
};
const withModel =
  (bytes: Uint8Array) =>
  (dir: string): void => {
    writeFileSync(join(dir, 'model.onnx'), bytes);
    configs(dir);
  };
const edited = (edit: (m: ModelProto) => void) => {
  const model = decoded();
  edit(model);
  return withModel(encoded(model));
};
const weight = (m: ModelProto) => m.graph!.initializer!.find((t) => t.dims?.length === 2)!;

function byteCases(rng: Rng): Case[] {
  const cases: Case[] = [
    { name: 'zero bytes', write: withModel(new Uint8Array(0)), expect: /model\.onnx: the file is empty/ },
  ];
  for (let i = 0; i < 6; i++) {
    const at = Math.floor(rng.next() * BASE.length);
    cases.push({ name: `truncated at ${at}`, write: withModel(BASE.subarray(0, at)), expect: /model\.onnx: / });
  }
  for (let i = 0; i < 4; i++) {
    const bytes = new Uint8Array(1 + Math.floor(rng.next() * 4096)).map(() => Math.floor(rng.next() * 256));
    cases.push({ name: `${bytes.length} random bytes`, write: withModel(bytes), expect: /model\.onnx: / });
  }
  // Changed bytes in the first 20 kB, where the graph's nodes and shapes are (the weights come after them).
  for (let i = 0; i < 12; i++) {
    const bytes = Uint8Array.from(BASE);
    const changes = 1 + Math.floor(rng.next() * 8);
    for (let j = 0; j < changes; j++) bytes[Math.floor(rng.next() * 20_000)] = Math.floor(rng.next() * 256);
    cases.push({ name: `${changes} bytes changed (case ${i})`, write: withModel(bytes), mayPass: true });
  }
  return cases;
}

const graphCases = (): Case[] => [
  { name: 'opset 1', write: edited((m) => (m.opsetImport![0].version = 1)), expect: /onnxruntime could not load it/ },
  { name: 'opset 99', write: edited((m) => (m.opsetImport![0].version = 99)), expect: /Opset 99/ },
  { name: 'no opset', write: edited((m) => (m.opsetImport = [])), expect: /Missing opset/ },
  { name: 'IR version 0', write: edited((m) => (m.irVersion = 0)), expect: /not an ONNX model/ },
  { name: 'IR version 99', write: edited((m) => (m.irVersion = 99)), expect: /IR version: 99/ },
  { name: 'no nodes', write: edited((m) => (m.graph!.node = [])), expect: /not an ONNX model/ },
  { name: 'no outputs', write: edited((m) => (m.graph!.output = [])), expect: /the model has no outputs/ },
  { name: 'no inputs', write: edited((m) => (m.graph!.input = [])), expect: /no image input/ },
  {
    name: 'an unknown operator',
    write: edited((m) => (m.graph!.node![3].opType = 'Frobnicate')),
    expect: /No Op registered for Frobnicate/,
  },
  {
    name: 'an output no node produces',
    write: edited((m) => (m.graph!.output![0].name = 'ghost')),
    expect: /ghost/,
  },
  {
    name: 'a weight shorter than its shape',
    write: edited((m) => (weight(m).rawData = weight(m).rawData!.subarray(0, 10))),
    expect: /initializer '.*' of shape \[10, 32\] needs 1280 bytes, its data has 10: the file is damaged/,
  },
  {
    name: 'a negative weight dimension',
    write: edited((m) => (weight(m).dims = [-1, 32])),
    expect: /of shape \[-1, 32\] has a size that is not a whole number >= 0/,
  },
  {
    name: 'a weight of 10^18 values',
    write: edited((m) => (weight(m).dims = [1e9, 1e9])),
    expect: /needs 4000000000000000000 bytes, its data has 1280/,
  },
  {
    name: 'a weight of type int64',
    write: edited((m) => (weight(m).dataType = 7)),
    expect: /needs 2560 bytes, its data has 1280: the file is damaged/,
  },
  {
    name: 'an input side of 0',
    write: edited((m) => (m.graph!.input![0].type!.tensorType!.shape!.dim![2] = { dimValue: 0 })),
    expect: /input 'pixel_values' \[batch, 3, 0, 32\] is not an image size evolq can feed/,
  },
  {
    name: 'an input of 10^6 × 10^6',
    write: edited((m) => {
      const dims = m.graph!.input![0].type!.tensorType!.shape!.dim!;
      dims[2] = { dimValue: 1e6 };
      dims[3] = { dimValue: 1e6 };
    }),
    expect: /is not an image size evolq can feed \(sides 1\.\.4096/,
  },
  {
    name: 'two nodes with one name',
    write: edited((m) => m.graph!.node!.forEach((n) => (n.name = 'same'))),
    expect: /two nodes with same node name/,
  },
];

/** The fixture with its weights in weights.bin, the first one's external-data entries replaced. */
function external(
  entries: Record<string, string> | ((dir: string) => Record<string, string>),
  plant?: (dir: string, root: string) => void,
) {
  return (dir: string, root: string): void => {
    const split = encodeModel(decoded(), { externalDataFile: 'weights.bin' });
    const model = onnx.ModelProto.decode(split.model);
    const first = model.graph!.initializer!.find((t) => t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL)!;
    const given = typeof entries === 'function' ? entries(dir) : entries;
    first.externalData = Object.entries(given).map(([key, value]) => ({ key, value }));
    writeFileSync(join(dir, 'model.onnx'), encoded(model));
    writeFileSync(join(dir, 'weights.bin'), split.data!);
    configs(dir);
    plant?.(dir, root);
  };
}

const OUTSIDE = /outside the model's folder/;
const externalCases = (): Case[] => [
  { name: 'external data: as written', write: external({ location: 'weights.bin' }), mayPass: true },
  { name: 'external data at ../secret', write: external({ location: '../secret' }), expect: OUTSIDE },
  { name: 'external data at /etc/passwd', write: external({ location: '/etc/passwd' }), expect: OUTSIDE },
  { name: 'external data at sub/../../secret', write: external({ location: 'sub/../../secret' }), expect: OUTSIDE },
  { name: 'external data at ..\\secret', write: external({ location: '..\\secret' }), expect: OUTSIDE },
  { name: 'external data at C:\\secret', write: external({ location: 'C:\\secret' }), expect: OUTSIDE },
  {
    name: 'external data at file:///etc/passwd',
    write: external({ location: 'file:///etc/passwd' }),
    expect: /model\/file:\/etc\/passwd for initializer '.*' is missing/,
  },
  {
    name: 'external data through a link out of the folder',
    write: external({ location: 'link.bin' }, (dir, root) => symlinkSync(join(root, 'secret'), join(dir, 'link.bin'))),
    expect: /link\.bin for initializer '.*' links to .*secret, outside the model's folder/,
  },
  {
    name: 'external data through a link to /dev/zero',
    write: external({ location: 'zero.bin' }, (dir) => symlinkSync('/dev/zero', join(dir, 'zero.bin'))),
    expect: /links to \/dev\/zero, outside the model's folder/,
  },
  {
    name: 'external data in a FIFO',
    write: external({ location: 'fifo.bin' }, (dir) => execFileSync('mkfifo', [join(dir, 'fifo.bin')])),
    expect: /fifo\.bin: is not a regular file, expected an external data file/,
  },
  {
    name: 'external data in a folder',
    write: external({ location: 'dir.bin' }, (dir) => mkdirSync(join(dir, 'dir.bin'))),
    expect: /dir\.bin: is a folder, expected an external data file/,
  },
  { name: 'external data missing', write: external({ location: 'nope.bin' }), expect: /nope\.bin for .* is missing/ },
  {
    name: 'external data with no location',
    write: external({ offset: '0' }),
    expect: /is external but names no location/,
  },
  {
    name: 'external data in model.onnx itself',
    write: external({ location: 'model.onnx', offset: '0', length: '16' }),
    expect: /needs \d+ bytes, its data has 16: the file is damaged/,
  },
  ...[
    ['-1', /offset '-1', not a byte count/],
    ['abc', /offset 'abc', not a byte count/],
    ['99999999999999999999', /offset '99999999999999999999', not a byte count/],
    ['999999999', /truncated, initializer '.*' needs bytes 999999999\.\./],
  ].map(([offset, expect]) => ({
    name: `external data at offset ${String(offset)}`,
    write: external({ location: 'weights.bin', offset: String(offset) }),
    expect: expect as RegExp,
  })),
  ...[
    ['0', /needs \d+ values, its data has 0: the file is damaged/],
    ['7', /needs \d+ bytes, its data has 7: the file is damaged/],
    ['1e3', /length '1e3', not a byte count/],
    ['999999999', /truncated/],
  ].map(([length, expect]) => ({
    name: `external data of length ${String(length)}`,
    write: external({ location: 'weights.bin', offset: '0', length: String(length) }),
    expect: expect as RegExp,
  })),
];

async function check(index: number, c: Case, command: 'eval' | 'quantize'): Promise<void> {
  const root = tempDir('evolq-fuzz-');
  const dir = join(root, 'model');
  mkdirSync(dir);
  writeFileSync(join(root, 'secret'), 'not a weight: evolq must not read this file');
  c.write(dir, root);
  const out = join(root, 'out');
  const args =
    command === 'eval'
      ? ['eval', dir, '--data', join(ASSETS, 'cifar10/test'), '--limit', '4']
      : ['quantize', dir, '--calib', join(ASSETS, 'cifar10/calib'), '--calib-size', '8', '--holdout', '4'].concat([
          '--method',
          'baseline',
          '--no-float-fallback',
          '--no-speed',
          '--quiet',
          '--out',
          out,
        ]);
  const result = await run(args, join(root, 'opened.log'));
  const what = `case ${index} (${c.name}, seed ${SEED}), ${command}`;
  assert.equal(result.signal, null, `${what}: did not end within ${CASE_TIMEOUT_MS / 1000} s`);
  const lines = result.stderr
    .trim()
    .split('\n')
    .filter((l) => l && !/^[a-z ]+: \d+\/\d+ \(/.test(l));
  if (result.code === 0) assert.ok(c.mayPass, `${what}: exit 0 for a model that cannot be right`);
  else {
    assert.equal(result.code, 1, `${what}: exit ${result.code}: ${result.stderr}`);
    assert.equal(lines.length, 1, `${what}: one line, got: ${result.stderr}`);
    assert.match(lines[0], /^evolq \w+: /, what);
    assert.doesNotMatch(result.stderr, /internal error|\n\s+at /, what);
    if (c.expect) assert.match(lines[0], c.expect, what);
    assert.ok(!existsSync(out), `${what}: left ${out}`);
  }
  // The output, its staging folder and lock sit beside `out`; the log is the test's own.
  const inside = [dir + sep, out, join(root, 'opened.log')];
  for (const file of result.opened) {
    const underRoot = file.startsWith(root + sep) || file === root;
    assert.ok(!underRoot || inside.some((p) => file === p || file.startsWith(p)), `${what}: opened ${file}`);
    assert.ok(!file.startsWith('/etc/') && !file.startsWith('/dev/'), `${what}: opened ${file}`);
  }
}

/** Runs the cases two at a time (the suite's machines have two cores). */
async function runAll(cases: Case[], command: 'eval' | 'quantize'): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < cases.length) {
      const index = next++;
      await check(index, cases[index], command);
    }
  };
  await Promise.all([worker(), worker()]);
}

test('damaged model files: truncated, empty, random bytes, changed bytes', async () => {
  await runAll(byteCases(new Rng(SEED)), 'eval');
});

test('graphs edited into nonsense, wrong opsets and IR versions: eval and quantize', async () => {
  await runAll(graphCases(), 'eval');
  await runAll(graphCases(), 'quantize');
});

test('external data with every kind of bad location, offset and length is refused before it is read', async () => {
  await runAll(externalCases(), 'eval');
  // quantize reads the model through the same loader; a few cases show it does not go around it.
  const some = /as written|\.\.\/secret|link out|FIFO/;
  await runAll(
    externalCases().filter((c) => some.test(c.name)),
    'quantize',
  );
});
