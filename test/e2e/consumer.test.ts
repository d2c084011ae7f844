// evolq as a dependency of someone else's project: the README's library example, copied from README.md, type-checks
// with `tsc --strict` (no skipLibCheck, no ambient types of its own) in a project outside the repository, runs there
// from that folder, and writes a quantized model that classifies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, DEFAULT_MODEL, ASSETS, tempDir } from '../helpers.js';
import { evaluateModel } from '../../src/pipeline/evaluate-model.js';
import { loadModel } from '../../src/model.js';

/** The README's ```ts block under "Use it as a library". */
function readmeExample(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Use it as a library'));
  const block = /```ts\n([^]*?)```/.exec(section);
  assert.ok(block, 'README.md has a ```ts example under "Use it as a library"');
  return block[1];
}

test("the README's library example type-checks strictly in a project of its own and runs from its folder", async () => {
  const project = tempDir('evolq-consumer-');
  mkdirSync(join(project, 'node_modules'));
  symlinkSync(ROOT, join(project, 'node_modules', 'evolq'));
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module', private: true }));
  writeFileSync(
    join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        skipLibCheck: false,
        module: 'nodenext',
        moduleResolution: 'nodenext',
        target: 'es2022',
        types: [],
        outDir: 'dist',
      },
      files: ['index.ts'],
    }),
  );
  writeFileSync(join(project, 'index.ts'), readmeExample());
  const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', project], {
    encoding: 'utf8',
  });
  assert.equal(tsc.status, 0, `tsc --strict on the example: ${tsc.stdout}${tsc.stderr}`);
  const run = spawnSync(process.execPath, [join(project, 'dist/index.js')], {
    cwd: project,
    encoding: 'utf8',
    timeout: 300_000,
  });
  assert.equal(run.status, 0, run.stderr);
  const written = join(project, 'vit-w4a8.onnx');
  assert.ok(existsSync(written), 'the example writes into the folder it runs in');
  const { mean, std } = loadModel(DEFAULT_MODEL).preprocessing;
  const accuracy = await evaluateModel(written, { data: join(ASSETS, 'cifar10/test'), limit: 200, mean, std });
  assert.ok(accuracy.top1 > 0.5, `W4A8 top-1 ${accuracy.top1}`);
});
