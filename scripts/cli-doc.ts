// Writes docs/cli.md from the option table (`npm run docs:cli`); test/unit/options/usage.test.ts fails when the
// committed file differs from what this writes.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliMarkdown } from '../src/options/usage.js';

const file = join(import.meta.dirname, '..', '..', 'docs', 'cli.md');
writeFileSync(file, cliMarkdown());
process.stdout.write(`wrote ${file}\n`);
