import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { QUANTIZE_OPTIONS } from '../../../src/options/table.js';
import { REQUEST_OPTIONS } from '../../../src/options/request-table.js';
import { DEFAULTS, FLAG_NAMING, PRESETS, resolveOptions, optionsRecord } from '../../../src/options/resolve.js';
import { cliMarkdown, commandUsage, usage } from '../../../src/options/usage.js';
import { parseCommand } from '../../../src/cli/args.js';
import { flagName, recordName } from '../../../src/options/spec.js';

const ROOT = join(import.meta.dirname, '..', '..', '..', '..');

test('docs/cli.md is what the option table writes (npm run docs:cli)', () => {
  assert.equal(readFileSync(join(ROOT, 'docs', 'cli.md'), 'utf8'), cliMarkdown());
});

test('every option keeps one name: the flag is its kebab case, config.json its snake case', () => {
  assert.equal(flagName('wBits'), 'w-bits');
  assert.equal(flagName('integerLayerNorm'), 'integer-layer-norm');
  assert.equal(recordName('searchSpace'), 'search_space');
  const text = usage('cpu');
  for (const name of Object.keys(QUANTIZE_OPTIONS))
    assert.match(text, new RegExp(`(--|\\[no-\\])${flagName(name)}\\b`), `--help names --${flagName(name)}`);
  const record = optionsRecord(resolveOptions({ method: 'evolq' }));
  assert.equal(record.w_bits, 8);
  assert.equal(record.search_space, 'attention');
  assert.equal(
    optionsRecord(resolveOptions({})).search_space,
    undefined,
    'search options are recorded only when the search ran',
  );
});

test('the defaults, the preset and the low-activation defaults come from the table, in that order of strength', () => {
  assert.equal(DEFAULTS.loss, 'auto');
  assert.equal(PRESETS.paper.loss, 'infonce');
  assert.deepEqual(Object.keys(PRESETS.default), []);
  assert.equal(resolveOptions({ aBits: 4 }).searchSpace, 'block+activations');
  assert.equal(resolveOptions({ aBits: '4' }).outputCorrection, true);
  assert.equal(
    resolveOptions({ aBits: 4, preset: 'paper' }).searchSpace,
    'attention',
    'the preset wins over the low-activation default',
  );
  assert.equal(
    resolveOptions({ aBits: 4, preset: 'paper', mutation: 'point' }).mutation,
    'point',
    'what is given wins over the preset',
  );
  assert.equal(resolveOptions({}, 'landscape').calibSize, 500);
  assert.equal(resolveOptions({ aBits: 4 }, 'landscape').searchSpace, 'attention');
  assert.equal(REQUEST_OPTIONS.points.default, 41);
});

test('values are checked by the table, named as the library names them, or by flag where the CLI resolves them', () => {
  assert.throws(
    () => resolveOptions({ wBits: 5 as never }),
    /^ConfigError: Unsupported options\.wBits: "5". Should be one of: 8, 4, 3, 2\.$/,
  );
  assert.throws(() => resolveOptions({ calibSize: '1e3' }), /options\.calibSize must be an integer >= 1, got "1e3"/);
  assert.throws(() => resolveOptions({ ptf: 'no' }), /options\.ptf must be true or false, got "no"/);
  assert.throws(() => resolveOptions({ wbits: 4 } as never), /Unknown option "wbits"/);
  assert.throws(() => resolveOptions(null as never), /^ConfigError: options must be an object, got null$/);
  assert.equal(resolveOptions({ searchBudget: '2.5T' }).searchBudget, 2.5e12);
  assert.throws(
    () => resolveOptions({ exportFormat: 'widened', wBits: 8 }),
    /options\.exportFormat: 'widened' stores 4 or 3-bit weights, not 8: give options\.wBits 4 or 3 or another options\.exportFormat/,
  );
  assert.throws(
    () => resolveOptions({ start: 'fitted', ptf: false }),
    /options\.start: 'fitted' refits the PTF .*, and options\.ptf: false turns PTF off/,
  );
  // The CLI's naming: flags, a switch's --no- form.
  assert.throws(
    () => resolveOptions({ wBits: '5' }, 'quantize', FLAG_NAMING),
    /^ConfigError: Unsupported --w-bits: "5"/,
  );
  assert.throws(
    () => resolveOptions({ exportFormat: 'widened', wBits: 8 }, 'quantize', FLAG_NAMING),
    /--export-format widened stores 4 or 3-bit weights, not 8: give --w-bits 4 or 3 or another --export-format/,
  );
  assert.throws(
    () => resolveOptions({ start: 'fitted', ptf: false }, 'quantize', FLAG_NAMING),
    /--start fitted refits the PTF .*, and --no-ptf turns PTF off/,
  );
});

test('the command line takes each recipe switch and its --no- form, and refuses both at once', () => {
  const line = parseCommand(
    'quantize',
    ['m', '--calib', 'c', '--out', 'o', '--no-ptf', '--shared-qkv', '--w-bits', '4'],
    ['MODEL'],
  );
  assert.deepEqual(
    [line.options.ptf, line.options.sharedQkv, line.options.wBits, line.options.lis],
    [false, true, '4', undefined],
  );
  assert.equal(line.request.calib, 'c');
  assert.equal(resolveOptions({ ...line.options, preset: 'paper', sharedQkv: false }).sharedQkv, false);
  assert.throws(
    () => parseCommand('quantize', ['m', '--calib', 'c', '--out', 'o', '--lis', '--no-lis'], ['MODEL']),
    /give --lis or --no-lis, not both/,
  );
  assert.throws(() => parseCommand('quantize', ['m', '--calib', 'c'], ['MODEL']), /--out is required/);
  assert.throws(
    () => parseCommand('eval', ['m', '--data', 'd', '--passes', '3'], ['MODEL']),
    /Unknown option '--passes'/,
  );
  assert.throws(
    () => parseCommand('landscape', ['m', '--calib', 'c', '--out', 'o', '--points', '0'], ['MODEL']),
    /--points must be an integer in 3..10001/,
  );
  assert.ok(commandUsage('landscape').includes('--calib-size N (500)'));
});

test('the deployed model is fast by default: Conv outputs quantized and the float fallback on; --preset paper turns both off', () => {
  const defaults = resolveOptions({});
  assert.equal(defaults.convOutputs, true);
  assert.equal(defaults.floatFallback, true);
  const paper = resolveOptions({ preset: 'paper' });
  assert.equal(paper.convOutputs, false);
  assert.equal(paper.floatFallback, false);
  assert.equal(resolveOptions({ preset: 'paper', floatFallback: true }).floatFallback, true, 'given overrides preset');
});
