// Argument parsing only: flags to typed values, with errors that name the flag.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError } from '../errors.js';

export type Flags = NonNullable<ParseArgsConfig['options']>;

export interface Parsed {
  positionals: string[];
  values: Record<string, string | boolean | undefined>;
}

/** `--flag -3` → `--flag=-3` for flags that take a value, so a negative number reaches validation as a value. */
function joinNegativeValues(args: readonly string[], flags: Flags): string[] {
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const name = args[i].startsWith('--') && !args[i].includes('=') ? args[i].slice(2) : undefined;
    if (name && flags[name]?.type === 'string' && /^-[\d.]/.test(args[i + 1] ?? '')) joined.push(`${args[i]}=${args[++i]}`);
    else joined.push(args[i]);
  }
  return joined;
}

/** The CLI's error messages get the `evolq COMMAND:` prefix once, from main. */
export function parse(args: string[], flags: Flags, positionals: string[]): Parsed {
  let parsed;
  try {
    parsed = parseArgs({ args: joinNegativeValues(args, flags), options: { ...flags, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new ConfigError((err as Error).message.split('\n')[0].replace(/\. To specify.*$/, ''));
  }
  const values = parsed.values as Parsed['values'];
  if (values.help) return { positionals: parsed.positionals, values };
  if (parsed.positionals.length !== positionals.length) {
    const extra = parsed.positionals.slice(positionals.length);
    throw new ConfigError(extra.length
      ? `unexpected argument '${extra[0]}'`
      : `missing ${positionals.slice(parsed.positionals.length).join(' ')}`);
  }
  return { positionals: parsed.positionals, values };
}

export function required(values: Parsed['values'], flag: string): string {
  const value = values[flag];
  if (typeof value !== 'string' || value === '') throw new ConfigError(`--${flag} is required`, `--${flag}`);
  return value;
}

/** "32" or "224x224" → [height, width]. */
export function sizeFlag(value: string | boolean | undefined): [number, number] | undefined {
  if (typeof value !== 'string') return undefined;
  const parts = value.split('x').map((p) => (/^\d+$/.test(p) ? Number(p) : NaN));
  if (parts.length > 2 || parts.some((p) => !Number.isInteger(p) || p <= 0)) throw new ConfigError(`--size must be N or HxW, got "${value}"`, '--size');
  return [parts[0], parts[1] ?? parts[0]];
}

/** "0.5,0.5,0.5" → numbers. */
export function listFlag(value: string | boolean | undefined, flag: string): number[] | undefined {
  if (typeof value !== 'string') return undefined;
  const list = value.split(',').map((v) => (/^\s*[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?\s*$/i.test(v) ? Number(v) : NaN));
  if (list.some((v) => !Number.isFinite(v))) throw new ConfigError(`${flag} must be comma-separated numbers, got "${value}"`, flag);
  return list;
}
