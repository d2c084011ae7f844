// What one option is, as data: how its value is read, its default (per command, per preset, at low activation
// bits), its help, and which commands take it. The CLI flags, the usage text, docs/cli.md, the options type and
// config.json's record are all derived from these entries (src/options/table.ts).
import * as values from './values.js';
import type { Parser } from './values.js';

export const COMMANDS = ['inspect', 'eval', 'quantize', 'landscape', 'serve'] as const;
export type Command = (typeof COMMANDS)[number];

/** Named sets of quantization options: `default` is evolq's own recipe, `paper` the Evol-Q authors' code's. */
export const PRESET_NAMES = ['default', 'paper'] as const;
export type Preset = (typeof PRESET_NAMES)[number];

export interface OptionSpec<T> {
  parse: Parser<T>;
  /** A switch (`--x` / `--no-x`) or a flag that takes a value. */
  type: 'boolean' | 'string';
  default: T;
  /** The usage's placeholder for the value (`N`, `DIR`, `SIZE`) or its choices. */
  value: string;
  choices?: readonly T[];
  help: string;
  commands: readonly Command[];
  /** Commands whose default differs from `default`. */
  commandDefaults?: Partial<Record<Command, T>>;
  /** What `--preset paper` sets (`--preset default` sets nothing over the defaults). */
  paper?: T;
  /** The default at activations below 8 bits, where it differs. */
  lowActivation?: T;
  /** Commands that cannot run without it. */
  requiredIn?: readonly Command[];
  /** Written to config.json's quantization_config: always, or when the search ran. */
  record?: 'always' | 'search';
  /** The default as the docs state it, where the value itself depends on the machine. */
  shownDefault?: string;
  /** A one-letter alias. */
  short?: string;
}

type Meta<T> = Omit<OptionSpec<T>, 'parse' | 'type' | 'default' | 'value' | 'choices'> & { value?: string };

export function choice<const T extends string | number>(
  choices: readonly T[],
  fallback: T,
  meta: Meta<T>,
): OptionSpec<T> {
  return {
    parse: (v, flag) => values.oneOf(v, choices, flag),
    type: 'string',
    default: fallback,
    value: choices.join('|'),
    choices,
    ...meta,
  };
}

export function switchOption(fallback: boolean, meta: Meta<boolean>): OptionSpec<boolean> {
  return { parse: values.boolean, type: 'boolean', default: fallback, value: '', ...meta };
}

export function integerOption(min: number, fallback: number, meta: Meta<number>, max?: number): OptionSpec<number> {
  return {
    parse: (v, flag) => values.integer(v, flag, min, max),
    type: 'string',
    default: fallback,
    value: 'N',
    ...meta,
  };
}

export function optionalInteger(
  min: number,
  meta: Meta<number | undefined>,
  max?: number,
): OptionSpec<number | undefined> {
  return {
    parse: values.optional((v, flag) => values.integer(v, flag, min, max)),
    type: 'string',
    default: undefined,
    value: 'N',
    ...meta,
  };
}

export function valueOption<T>(parse: Parser<T>, fallback: T, meta: Meta<T> & { value: string }): OptionSpec<T> {
  return { parse, type: 'string', default: fallback, ...meta };
}

export function optionalValue<T>(
  parse: Parser<T>,
  meta: Meta<T | undefined> & { value: string },
): OptionSpec<T | undefined> {
  return { parse: values.optional(parse), type: 'string', default: undefined, ...meta };
}

export type OptionValue<S> = S extends OptionSpec<infer T> ? T : never;

/** The flag of an option: its name in kebab case (`wBits` → `--w-bits`). */
export function flagName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** The option's name in config.json (`wBits` → `w_bits`). */
export function recordName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}
