import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { quantize } from '../../src/pipeline/quantize.js';
import { landscape } from '../../src/pipeline/landscape.js';
import { ASSETS, BIN, DEFAULT_MODEL, tempDir } from '../helpers.js';

const CALIB = join(ASSETS, 'cifar10/calib');
const TEST = join(ASSETS, 'cifar10/test');
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

test('evolq landscape writes csv, json, SVG plots and roughness; into a quantize output it adds them to report.html, which renders every plot offline in Chromium', async () => {
  const out = join(tempDir(), 'vit-w4a8');
  const quantized = await quantize({
    model: DEFAULT_MODEL,
    calib: CALIB,
    eval: TEST,
    out,
    options: {
      floatFallback: false,
      wBits: 4,
      method: 'evolq',
      passes: 1,
      calibSize: 200,
      holdout: 50,
      evalLimit: 200,
    },
  });
  const before = readFileSync(join(out, 'report.html'), 'utf8');
  assert.match(before, /Selection measure per pass/);
  assert.match(
    before,
    /<p class="verdict"><strong>W4A8 Evol-Q model\.onnx: top-1 \d+\.\d\d vs float/,
    'the verdict first',
  );
  assert.match(before, /<h2>Files<\/h2>.*model\.onnx.*the quantized model/s);
  assert.doesNotMatch(before, /Loss landscape/);

  const result = await landscape({
    model: DEFAULT_MODEL,
    calib: CALIB,
    out,
    points: 9,
    grid: 3,
    radius: 0.1,
    options: { wBits: 4, calibSize: 200, evalLimit: 100 },
  });
  assert.equal(result.unit.index, 5, 'the last unit by default');
  assert.equal(result.line.length, 9);
  assert.equal(result.grid!.values.length, 9);
  const centre = result.grid!.values[4];
  const middle = result.line[4];
  assert.deepEqual([centre.a, centre.b, middle.a], [0, 0, 0]);
  for (const key of ['infonce', 'mse', 'kl', 'top1'] as const) {
    assert.equal(centre[key], middle[key], `${key}: the same scales give the same value on the line and the grid`);
    assert.ok(result.roughness[key].normalizedVariation >= 0 && Number.isInteger(result.roughness[key].localMinima));
  }
  assert.ok(
    result.line.some((p) => p.mse !== middle.mse),
    'moving the scales changes the loss',
  );
  const files = readdirSync(out);
  for (const f of [
    'landscape.json',
    'landscape.csv',
    'landscape-line.svg',
    'landscape-grid-infonce.svg',
    'landscape-grid-top1.svg',
    'report.html',
    'model.onnx',
    'config.json',
  ]) {
    assert.ok(files.includes(f), `${f} in ${files.join(', ')}`);
  }
  const csv = readFileSync(join(out, 'landscape.csv'), 'utf8').trim().split('\n');
  assert.equal(csv[0], 'kind,i,j,a,b,infonce,mse,kl,top1');
  assert.equal(csv.length, 1 + 9 + 9);
  assert.match(readFileSync(join(out, 'landscape-line.svg'), 'utf8'), /^<svg[^]*role-axis[^]*role-mark/);

  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: FLAGS });
  try {
    const page = await browser.newPage();
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    const url = pathToFileURL(join(out, 'report.html')).href;
    await page.goto(url, { waitUntil: 'load' });
    const plots = await page.evaluate(() =>
      [...document.querySelectorAll('figure.plot')].map((f) => {
        const svg = f.querySelector('svg');
        const box = svg?.getBoundingClientRect();
        return {
          title: f.querySelector('.role-title text')?.textContent ?? f.querySelector('figcaption')?.textContent ?? '',
          width: box?.width ?? 0,
          height: box?.height ?? 0,
          axes: f.querySelectorAll('.role-axis').length,
          axisLabels: f.querySelectorAll('.role-axis-label text').length,
          marks: [...f.querySelectorAll('.role-mark')].reduce((n, g) => n + g.querySelectorAll('path').length, 0),
        };
      }),
    );
    // Search: selection measure and holdout top-1 per pass, gain per unit, and the scale movement when a pass was
    // kept (one pass on 50 holdout images may keep the baseline); landscape: the line and four heat maps.
    const moved = quantized.scaleMovement.length > 0;
    assert.equal(plots.length, moved ? 9 : 8, JSON.stringify(plots.map((p) => p.title)));
    for (const p of plots) {
      assert.ok(p.width > 100 && p.height > 100, `${p.title}: ${p.width}×${p.height}`);
      assert.ok(p.axes >= 2 && p.axisLabels > 0, `${p.title}: ${p.axes} axes`);
      assert.ok(p.marks > 0, `${p.title}: no data marks`);
    }
    const body = (await page.textContent('body')) ?? '';
    assert.match(body, /model\.onnx \(exported\)/);
    assert.match(
      body,
      /Kept: (the baseline|pass \d|the unsearched \w+ start)\. (no pass|neither|pass \d|the unsearched)[^.]*holdout/,
      'one sentence says why the kept result was kept',
    );
    assert.deepEqual(requests, [url], 'no request beyond the page itself');
  } finally {
    await browser.close();
  }
});

test('evolq landscape refuses a unit or radius out of range, naming the option, and writes nothing; with defaults it writes the line only', () => {
  const parent = tempDir();
  const out = join(parent, 'l');
  for (const [flag, value, message] of [
    ['--unit', '6', /--unit must be in 0\.\.5 \(6 attention units\), got 6/],
    ['--radius', '1', /--radius must be below 1/],
  ] as const) {
    const r = spawnSync(
      process.execPath,
      [BIN, 'landscape', DEFAULT_MODEL, '--calib', CALIB, '--out', out, flag, value, '--quiet'],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, message);
    assert.equal(existsSync(out), false);
  }
  assert.deepEqual(readdirSync(parent), []);

  // The smallest run through the command line: defaults for what is not given (500 calibration images).
  const run = (dir: string) =>
    spawnSync(
      process.execPath,
      [
        BIN,
        'landscape',
        DEFAULT_MODEL,
        '--calib',
        CALIB,
        '--out',
        dir,
        '--points',
        '3',
        '--grid',
        '0',
        '--eval-limit',
        '20',
        '--json',
        '--quiet',
      ],
      { encoding: 'utf8' },
    );
  const r = run(out);
  assert.equal(r.status, 0, r.stderr);
  const file = JSON.parse(r.stdout);
  const again = run(join(parent, 'again'));
  assert.equal(again.status, 0, again.stderr);
  assert.deepEqual(JSON.parse(again.stdout).line, file.line, 'the same seed gives the same landscape');
  assert.equal(file.settings.calibImages, 500);
  assert.equal(file.settings.radius, 0.1);
  assert.equal(file.line.length, 3);
  assert.equal(file.grid, null);
  assert.deepEqual(readdirSync(out).sort(), [
    '.evolq-files.json',
    'landscape-line.svg',
    'landscape.csv',
    'landscape.json',
    'report.html',
  ]);
  assert.ok(
    file.line.some((p: { mse: number }) => p.mse !== file.line[1].mse),
    'the ends differ from the middle',
  );
});
