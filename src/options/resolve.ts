// The options the library runs with: what was given, over the command's default, the preset, the default at
// low activation bits and the table's default, each checked by its parser.
import { ConfigError } from '../errors.js';
import { widthName } from '../quant/scheme.js';
import { EXPORT_FORMATS } from '../export/formats.js';
import { COMMANDS, PRESET_NAMES, flagName, recordName, type Command, type OptionSpec, type Preset } from './spec.js';
import {
  BUDGET_WIDTHS,
  FLOAT_WIDTH,
  QUANTIZE_OPTIONS,
  type GivenOptions,
  type QuantizeOptionName,
  type QuantizeOptions,
} from './table.js';

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

/** The flag that sets an option, for the command line's messages. */
export const flagOf = (name: string) => `--${flagName(name)}`;

/** How a message names an option and one of its settings: by flag (the CLI) or by request field (the library). */
export interface OptionNaming {
  /** `--w-bits` or `options.wBits`. */
  option(name: string): string;
  /** `--w-bits 4`, `--no-ptf` or `options.wBits: 4`, `options.ptf: false`. */
  setting(name: string, value: unknown): string;
}

export const FLAG_NAMING: OptionNaming = {
  option: flagOf,
  setting: (name, value) =>
    value === false ? `--no-${flagName(name)}` : value === true ? flagOf(name) : `${flagOf(name)} ${value}`,
};

export const FIELD_NAMING: OptionNaming = {
  option: (name) => `options.${name}`,
  setting: (name, value) => `options.${name}: ${typeof value === 'string' ? `'${value}'` : String(value)}`,
};

/** An option's default where nothing was given: the command's, the preset's, at low activation bits, or the table's. */
function defaultOf(name: QuantizeOptionName, command: Command, preset: Preset, aBits: number): unknown {
  const s = spec(name);
  if (s.commandDefaults?.[command] !== undefined) return s.commandDefaults[command];
  if (preset === 'paper' && s.paper !== undefined) return s.paper;
  if (aBits < 8 && s.lowActivation !== undefined) return s.lowActivation;
  return s.default;
}

/**
 * Fills defaults and checks every field; throws ConfigError naming the option as `label` does: the request field
 * (`options.wBits`) by default, the flag where the CLI resolves its options before calling the library.
 */
export function resolveOptions(
  partial: GivenOptions,
  command: Command = 'quantize',
  naming: OptionNaming = FIELD_NAMING,
): QuantizeOptions {
  if (!COMMANDS.includes(command))
    throw new ConfigError(`Unknown command "${command}". Should be one of: ${COMMANDS.join(', ')}.`, 'command');
  if (typeof partial !== 'object' || partial === null || Array.isArray(partial))
    throw new ConfigError(`options must be an object, got ${Array.isArray(partial) ? 'an array' : String(partial)}`);
  const label = naming.option;
  const given = Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)) as Partial<
    Record<QuantizeOptionName, unknown>
  >;
  for (const name of Object.keys(given)) {
    if (!(name in QUANTIZE_OPTIONS))
      throw new ConfigError(`Unknown option "${name}". Should be one of: ${NAMES.join(', ')}.`, name);
  }
  const preset = spec('preset').parse(given.preset ?? DEFAULTS.preset, label('preset')) as Preset;
  const aBits = spec('aBits').parse(given.aBits ?? defaultOf('aBits', command, preset, 8), label('aBits')) as number;
  const resolved = Object.fromEntries(
    NAMES.map((name) => {
      const value = name in given ? given[name] : defaultOf(name, command, preset, aBits);
      return [name, spec(name).parse(value, label(name))];
    }),
  ) as QuantizeOptions;
  checkWidths(resolved, new Set(Object.keys(given)), naming);
  // Under a budget, calibration starts every weight at the widest integer choice.
  if (hasWidthBudget(resolved)) resolved.wBits = widestInteger(resolved.wBitChoices) as QuantizeOptions['wBits'];
  checkCombinations(resolved, naming);
  return resolved;
}

function checkCombinations(o: QuantizeOptions, { option, setting }: OptionNaming): void {
  const [format, wBits] = [option('exportFormat'), option('wBits')];
  const formatBits: readonly number[] = EXPORT_FORMATS[o.exportFormat].wBits;
  if (!formatBits.includes(o.wBits)) {
    throw new ConfigError(
      `${setting('exportFormat', o.exportFormat)} stores ${formatBits.join(' or ')}-bit weights, not ${o.wBits}: give ${wBits} ${formatBits.join(' or ')} or another ${format}`,
      format,
    );
  }
  if (o.weightCorrection && o.exportFormat === 'blocked') {
    throw new ConfigError(
      `${option('weightCorrection')} (part of ${setting('preset', 'paper')}) rescales whole output channels and is not written for ${setting('exportFormat', 'blocked')}: give another ${format}`,
      option('weightCorrection'),
    );
  }
  if (o.resume && o.method !== 'evolq')
    throw new ConfigError(
      `${setting('resume', true)} continues an interrupted search, and ${setting('method', o.method)} runs none: give ${setting('method', 'evolq')}, or drop ${option('resume')}`,
      option('resume'),
    );
  if (o.start === 'fitted' && !o.ptf) {
    throw new ConfigError(
      `${setting('start', 'fitted')} refits the PTF of the LayerNorm inputs, and ${setting('ptf', false)} turns PTF off: drop one of them`,
      option('start'),
    );
  }
}

const BUDGETS = ['sizeBudget', 'accuracyBudget', 'latencyBudget'] as const;
export type WidthBudget = (typeof BUDGETS)[number];

/** The budget that gives each weight its own width, if one was given. */
export const widthBudget = (o: Pick<QuantizeOptions, WidthBudget>): WidthBudget | undefined =>
  BUDGETS.find((name) => o[name] !== undefined);

/** Whether --size-budget, --accuracy-budget or --latency-budget gives each weight its own width. */
export const hasWidthBudget = (o: Pick<QuantizeOptions, WidthBudget>) => widthBudget(o) !== undefined;

/** The widest integer width among the choices (what calibration starts every weight at). */
export const widestInteger = (choices: readonly number[]) => choices.find((bits) => bits !== FLOAT_WIDTH) ?? 0;

/**
 * A budget's widths: one budget, its default choices where none were given, at least one integer width, what the
 * export format stores, no --w-bits beside them, and no --resume with a latency budget (its widths come from
 * timings, which differ from run to run).
 */
function checkWidths(o: QuantizeOptions, given: ReadonlySet<string>, { option, setting }: OptionNaming): void {
  const budgets = BUDGETS.filter((name) => o[name] !== undefined);
  if (budgets.length > 1)
    throw new ConfigError(
      `${budgets.map(option).join(' and ')} each choose the widths: give one of them`,
      option(budgets[budgets.length - 1]),
    );
  const choices = option('wBitChoices');
  if (!budgets.length) {
    // Resolved options passed on (the CLI's) carry the default choices: only other choices are refused.
    if (given.has('wBitChoices') && o.wBitChoices.join() !== DEFAULTS.wBitChoices.join())
      throw new ConfigError(
        `${choices} is what ${BUDGETS.map(option).join(', ')} choose from: give one of them, or drop ${choices}`,
        choices,
      );
    return;
  }
  const budget = option(budgets[0]);
  if (!given.has('wBitChoices')) o.wBitChoices = [...BUDGET_WIDTHS[budgets[0]]];
  if (!widestInteger(o.wBitChoices))
    throw new ConfigError(
      `${choices} ${o.wBitChoices.map(widthName).join(',')}: give at least one integer width too (e.g. float,8)`,
      choices,
    );
  // A resolved set of options (the CLI's, passed on to the library) has --w-bits at the widest choice already.
  if (given.has('wBits') && o.wBits !== widestInteger(o.wBitChoices))
    throw new ConfigError(
      `${budget} gives each layer its own width from ${choices}: drop ${option('wBits')}`,
      option('wBits'),
    );
  if (o.resume && budgets[0] === 'latencyBudget')
    throw new ConfigError(
      `${budget} chooses the widths from timings, which differ from run to run, so an interrupted search cannot be continued: drop ${option('resume')}`,
      option('resume'),
    );
  const format = EXPORT_FORMATS[o.exportFormat];
  const stored: readonly number[] = format.wBits;
  const missing = o.wBitChoices.filter((bits) => bits !== FLOAT_WIDTH && !stored.includes(bits));
  if ('weightBlock' in format || missing.length)
    throw new ConfigError(
      `${setting('exportFormat', o.exportFormat)} does not store ${'weightBlock' in format ? 'per-layer widths' : `${missing.join(' or ')}-bit weights`} under ${budget}: give ${setting('exportFormat', 'per-channel')}${'weightBlock' in format ? '' : ` or ${choices} without ${missing.join(', ')}`}`,
      option('exportFormat'),
    );
}

/** The options config.json's quantization_config records, under their snake-case names. */
export function optionsRecord(options: QuantizeOptions): Record<string, unknown> {
  const recorded = NAMES.filter(
    (name) => spec(name).record === 'always' || (spec(name).record === 'search' && options.method === 'evolq'),
  );
  return Object.fromEntries(recorded.map((name) => [recordName(name), options[name]]));
}

export { PRESET_NAMES };
