import { test } from 'node:test';
import { execFileSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import { listImageFolder, limitPerClass, drawSplits, decodeImages, UNLABELED } from '../../../src/data/imagefolder.js';
import { listCalibrationImages } from '../../../src/data/image-list.js';
import { parsePreprocessorConfig } from '../../../src/data/preprocessor-config.js';
import { Rng } from '../../../src/rng.js';
import { tempDir, ASSETS } from '../../helpers.js';

async function folderWithImages(classes: Record<string, number>, size = 8): Promise<string> {
  const root = tempDir();
  for (const [name, count] of Object.entries(classes)) {
    mkdirSync(join(root, name));
    for (let i = 0; i < count; i++) {
      const pixels = Buffer.alloc(size * size * 3, (i * 40) % 256);
      await sharp(pixels, { raw: { width: size, height: size, channels: 3 } })
        .png()
        .toFile(join(root, name, `${String(i).padStart(3, '0')}.png`));
    }
  }
  return root;
}

test('class indices come from id2label names, else from sorted folder names', async () => {
  const root = await folderWithImages({ cat: 2, airplane: 1 });
  const sorted = listImageFolder(root);
  assert.deepEqual(sorted.classNames, ['airplane', 'cat']);
  assert.deepEqual(
    sorted.items.map((i) => i.label),
    [0, 1, 1],
  );
  const named = listImageFolder(root, ['cat', 'dog', 'airplane']);
  assert.deepEqual(
    named.items.map((i) => [i.file.split('/').slice(-2).join('/'), i.label]),
    [
      ['airplane/000.png', 2],
      ['cat/000.png', 0],
      ['cat/001.png', 0],
    ],
  );
  assert.throws(() => listImageFolder(root, ['dog', 'bird']), /class folder 'airplane' matches no id2label entry/);
});

test('--limit takes exactly N images, the first of each class in sorted file order, spread over the classes', () => {
  const folder = listImageFolder(join(ASSETS, 'cifar10/test'));
  const items = limitPerClass(folder, 25);
  assert.equal(items.length, 25, '--eval-limit 32 once evaluated 40 images');
  const perClass = [...new Set(items.map((i) => i.label))].map((l) => items.filter((i) => i.label === l).length);
  assert.deepEqual(perClass, [3, 3, 3, 3, 3, 2, 2, 2, 2, 2]);
  assert.equal(limitPerClass(folder, 5000).length, 2000, 'all there are');
  assert.deepEqual(
    items.slice(0, 3).map((i) => i.file.split('/').slice(-2).join('/')),
    ['airplane/0000.jpg', 'airplane/0001.jpg', 'airplane/0002.jpg'],
  );
  assert.equal(new Set(items.map((i) => i.label)).size, 10);
});

test('calibration and holdout draws are disjoint and the same for the same seed', () => {
  const folder = listImageFolder(join(ASSETS, 'cifar10/calib'));
  const a = drawSplits(folder, 1000, 200, new Rng(7));
  const b = drawSplits(folder, 1000, 200, new Rng(7));
  const c = drawSplits(folder, 1000, 200, new Rng(8));
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.calibration, c.calibration);
  const files = new Set(a.calibration.map((i) => i.file));
  assert.equal(files.size, 1000);
  assert.ok(a.holdout.every((i) => !files.has(i.file)));
  assert.throws(
    () => drawSplits(folder, 1100, 200, new Rng(0)),
    /--calib-size 1100 plus --holdout 200 is more than the 1200 images/,
  );
});

test('preprocessing rescales and normalizes per channel into N×C×H×W', async () => {
  const root = tempDir();
  mkdirSync(join(root, 'a'));
  const pixels = Buffer.alloc(4 * 4 * 3);
  for (let i = 0; i < 16; i++) pixels.set([10, 100, 250], i * 3);
  await sharp(pixels, { raw: { width: 4, height: 4, channels: 3 } })
    .png()
    .toFile(join(root, 'a', 'x.png'));
  const prep = parsePreprocessorConfig(
    {
      do_rescale: true,
      rescale_factor: 1 / 255,
      do_normalize: true,
      image_mean: [0.5, 0.5, 0.5],
      image_std: [0.25, 0.5, 1],
    },
    'p.json',
    [3, 4, 4],
  );
  const batch = await decodeImages(listImageFolder(root).items, prep);
  assert.deepEqual(batch.dims, [1, 3, 4, 4]);
  const expect = [(10 / 255 - 0.5) / 0.25, (100 / 255 - 0.5) / 0.5, 250 / 255 - 0.5];
  for (let c = 0; c < 3; c++) assert.ok(Math.abs(batch.data[c * 16 + 5] - expect[c]) < 1e-6);
});

test('a model with one input channel gets grayscale images; resize and center crop follow the config', async () => {
  const root = await folderWithImages({ a: 1 }, 20);
  const prep = parsePreprocessorConfig(
    {
      do_resize: true,
      size: { height: 16, width: 16 },
      do_center_crop: true,
      crop_size: { height: 12, width: 12 },
      image_mean: [0],
      image_std: [1],
    },
    'p.json',
    [1, 12, 12],
  );
  assert.equal(prep.channels, 1);
  const batch = await decodeImages(listImageFolder(root).items, prep);
  assert.deepEqual(batch.dims, [1, 1, 12, 12]);
  const timm = parsePreprocessorConfig({ size: { height: 224, width: 224 }, crop_pct: 0.875 }, 'p.json', [3, 224, 224]);
  assert.deepEqual([timm.resize, timm.crop], [{ shortestEdge: 256 }, { height: 224, width: 224 }]);
});

test('a corrupt image is reported with its path', async () => {
  const root = await folderWithImages({ a: 1 });
  writeFileSync(join(root, 'a', 'broken.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 1, 2, 3]));
  const prep = parsePreprocessorConfig({}, 'p.json', [3, 8, 8]);
  await assert.rejects(decodeImages(listImageFolder(root).items, prep), /a\/broken\.jpg: cannot decode image/);
});

test('calibration images need no labels: flat, nested, a list file, class folders the model does not name', () => {
  const root = tempDir();
  const image = (path: string) => {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, 'not decoded here');
  };
  for (const f of ['flat/b.jpg', 'flat/a.png', 'flat/.hidden.jpg', 'flat/notes.txt']) image(join(root, f));
  const flat = listCalibrationImages(join(root, 'flat'), ['cat', 'dog']);
  assert.deepEqual(
    flat.items.map((i) => [i.file.slice(root.length), i.label]),
    [
      ['/flat/a.png', UNLABELED],
      ['/flat/b.jpg', UNLABELED],
    ],
  );
  assert.equal(flat.labeled, false);
  for (const f of ['tree/2024/x/1.jpg', 'tree/2023/2.jpg', 'tree/3.webp']) image(join(root, f));
  symlinkSync(join(root, 'tree'), join(root, 'tree', '2024', 'loop')); // a link back up is read once
  assert.deepEqual(
    listCalibrationImages(join(root, 'tree')).items.map((i) => i.file.slice(root.length)),
    ['/tree/2023/2.jpg', '/tree/2024/x/1.jpg', '/tree/3.webp'],
  );
  // Class folders the model names keep their labels; others are just images.
  for (const f of ['classes/dog/1.jpg', 'classes/cat/2.jpg']) image(join(root, f));
  const classes = listCalibrationImages(join(root, 'classes'), ['cat', 'dog']);
  assert.deepEqual([classes.labeled, classes.items.map((i) => i.label)], [true, [0, 1]]);
  const other = listCalibrationImages(join(root, 'classes'), ['car', 'ship']);
  assert.deepEqual([other.labeled, other.items.map((i) => i.label)], [false, [UNLABELED, UNLABELED]]);
  // A list file: paths relative to it, comments and blank lines skipped, each line checked.
  writeFileSync(join(root, 'list.txt'), '# images\nflat/a.png\n\ntree/3.webp\n');
  assert.deepEqual(
    listCalibrationImages(join(root, 'list.txt')).items.map((i) => i.file),
    [join(root, 'flat/a.png'), join(root, 'tree/3.webp')],
  );
  writeFileSync(join(root, 'bad.txt'), 'flat/a.png\nflat/notes.txt\n');
  assert.throws(
    () => listCalibrationImages(join(root, 'bad.txt')),
    /bad\.txt: line 2 \('flat\/notes\.txt'\) is not an image path/,
  );
  writeFileSync(join(root, 'gone.txt'), 'flat/gone.jpg\n');
  assert.throws(
    () => listCalibrationImages(join(root, 'gone.txt')),
    /gone\.txt: line 1: .*flat\/gone\.jpg does not exist/,
  );
  execFileSync('mkfifo', [join(root, 'list.fifo')]);
  assert.throws(
    () => listCalibrationImages(join(root, 'list.fifo')),
    /list\.fifo: is a FIFO, not an image folder or a list/,
  );
  mkdirSync(join(root, 'none'));
  assert.throws(() => listCalibrationImages(join(root, 'none')), /none: no images .* in it or its subfolders/);
});

// A bound on a hang, not a speed target: the quadratic copy it replaced ran for minutes on 200,000 files.
test(
  'limitPerClass takes 10 of 200,000 images of one class (it copied the class per image before)',
  { timeout: 60_000 },
  () => {
    const items = Array.from({ length: 200_000 }, (_, i) => ({ file: `x/${i}.jpg`, label: 0 }));
    const chosen = limitPerClass({ root: 'x', classNames: ['a'], items, labeled: true }, 10);
    assert.deepEqual(
      chosen.map((i) => i.file),
      items.slice(0, 10).map((i) => i.file),
    );
  },
);

test('preprocessor_config.json sizes are whole pixels in 1..4096: negative or fractional ones name the field', () => {
  for (const [size, pattern] of [
    [{ height: -32, width: -32 }, /'size\.height' must be a whole number of pixels in 1\.\.4096, got -32/],
    [{ height: 32.5, width: 32 }, /'size\.height' must be a whole number of pixels .* got 32\.5/],
    [0, /'size' must be a whole number of pixels/],
    [{ shortest_edge: 1e9 }, /'size\.shortest_edge' must be .* got 1000000000/],
    ['big', /'size' must be a number, \{height, width\} or \{shortest_edge\}/],
  ] as const)
    assert.throws(() => parsePreprocessorConfig({ size, do_resize: true }, 'p.json', [3, -1, -1]), pattern);
});

test('a size or crop_size that makes other images than the model takes names the field, not an image', () => {
  assert.throws(
    () => parsePreprocessorConfig({ size: 32, crop_size: 64, do_center_crop: true }, 'p.json', [3, 32, 32]),
    /p\.json: its crop_size makes 64x64 images, and the model takes 32x32; give the model's size/,
  );
  assert.throws(
    () => parsePreprocessorConfig({ size: { height: 48, width: 48 } }, 'p.json', [3, 32, 32]),
    /p\.json: its size makes 48x48 images, and the model takes 32x32/,
  );
});
