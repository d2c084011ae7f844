// Loaded with `node --import` by the model-file fuzz test: every path the process opens through node:fs is appended,
// links resolved, to the file EVOLQ_TEST_OPEN_LOG names, so the test sees what evolq read. Native readers
// (onnxruntime, sharp) do not go through node:fs and are not logged.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import { resolve } from 'node:path';

const log = process.env.EVOLQ_TEST_OPEN_LOG;
if (log) {
  const { appendFileSync, realpathSync } = fs;
  let inside = false; // appendFileSync opens the log through the patched functions
  const record = (path: unknown) => {
    if (inside || !(typeof path === 'string' || path instanceof URL || Buffer.isBuffer(path))) return;
    inside = true;
    try {
      let file = resolve(path instanceof URL ? path.pathname : String(path));
      try {
        file = realpathSync(file);
      } catch {
        // a path that does not exist is logged as given
      }
      appendFileSync(log, `${file}\n`);
    } finally {
      inside = false;
    }
  };
  const wrap = (module: object, names: string[]) => {
    const target = module as Record<string, (...args: unknown[]) => unknown>;
    for (const name of names) {
      const original = target[name];
      target[name] = function (this: unknown, ...args: unknown[]) {
        record(args[0]);
        return original.apply(this, args);
      };
    }
  };
  wrap(fs, ['openSync', 'readFileSync', 'open', 'readFile', 'createReadStream', 'opendirSync', 'readdirSync']);
  wrap(fsp, ['open', 'readFile']);
  syncBuiltinESMExports();
}
