// The options the library runs with: what was given, over the command's default, the preset, the default at
// low activation bits and the table's default, each checked by its parser.
import { ConfigError } from '../errors.js';
import { EXPORT_FORMATS } from '../export/formats.js';
import { PRESET_NAMES, flagName, recordName, type Command, type OptionSpec, type Preset } from './spec.js';
import { QUANTIZE_OPTIONS, type GivenOptions, type QuantizeOptionName, type QuantizeOptions } from './table.js';

const NAMES = Object.keys(QUANTIZE_OPTIONS) as QuantizeOptionName[];
const spec = (name: QuantizeOptionName) => QUANTIZE_OPTIONS[name] as OptionSpec<unknown>;

/** Every option's default for `quantize`, as the table gives it (before a preset or low activation bits). */
export const DEFAULTS = Object.fromEntries(NAMES.map((name) => [name, spec(name).default])) as QuantizeOptions;

/** What each preset sets over DEFAULTS. */
export const PRESETS: Readonly<Record<Preset, Partial<QuantizeOptions>>> = {
  default: {},
  paper: Object.fromEntries(
    NAMES.filter((name) => spec(name).paper !== undefined).map((name) => [name, spec(name).paper]),
  ) as Partial<QuantizeOptions>,
};

/** The flag that sets an option, for messages. */
export const flagOf = (name: string) => `--${flagName(name)}`;

/** An option's default where nothing was given: the command's, the preset's, at low activation bits, or the table's. */
function defaultOf(name: QuantizeOptionName, command: Command, preset: Preset, aBits: number): unknown {
  const s = spec(name);
  if (s.commandDefaults?.[command] !== undefined) return s.commandDefaults[command];
  if (preset === 'paper' && s.paper !== undefined) return s.paper;
  if (aBits < 8 && s.lowActivation !== undefined) return s.lowActivation;
  return s.default;
}

/** Fills defaults and checks every field; throws ConfigError naming the flag. */
export function resolveOptions(
  partial: GivenOptions | Partial<Record<QuantizeOptionName, unknown>>,
  command: Command = 'quantize',
): QuantizeOptions {
  const given = Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)) as Partial<
    Record<QuantizeOptionName, unknown>
  >;
  for (const name of Object.keys(given)) {
    if (!(name in QUANTIZE_OPTIONS))
      throw new ConfigError(`Unknown option "${name}". Should be one of: ${NAMES.join(', ')}.`, name);
  }
  const preset = spec('preset').parse(given.preset ?? DEFAULTS.preset, flagOf('preset')) as Preset;
  const aBits = spec('aBits').parse(given.aBits ?? defaultOf('aBits', command, preset, 8), flagOf('aBits')) as number;
  const resolved = Object.fromEntries(
    NAMES.map((name) => {
      const value = name in given ? given[name] : defaultOf(name, command, preset, aBits);
      return [name, spec(name).parse(value, flagOf(name))];
    }),
  ) as QuantizeOptions;
  checkCombinations(resolved);
  return resolved;
}

function checkCombinations(o: QuantizeOptions): void {
  const formatBits: readonly number[] = EXPORT_FORMATS[o.exportFormat].wBits;
  if (!formatBits.includes(o.wBits)) {
    throw new ConfigError(
      `--export-format ${o.exportFormat} stores ${formatBits.join(' or ')}-bit weights, not ${o.wBits}: give --w-bits ${formatBits.join(' or ')} or another --export-format`,
      '--export-format',
    );
  }
  if (o.weightCorrection && o.exportFormat === 'blocked') {
    throw new ConfigError(
      '--weight-correction (part of --preset paper) rescales whole output channels and is not written for --export-format blocked: give another --export-format',
      '--weight-correction',
    );
  }
  if (o.start === 'fitted' && !o.ptf) {
    throw new ConfigError(
      '--start fitted refits the PTF of the LayerNorm inputs, and --no-ptf turns PTF off: drop one of them',
      '--start',
    );
  }
}

/** The options config.json's quantization_config records, under their snake-case names. */
export function optionsRecord(options: QuantizeOptions): Record<string, unknown> {
  const recorded = NAMES.filter(
    (name) => spec(name).record === 'always' || (spec(name).record === 'search' && options.method === 'evolq'),
  );
  return Object.fromEntries(recorded.map((name) => [recordName(name), options[name]]));
}

export { PRESET_NAMES };
