// Argument parsing only: flags to typed values, with errors that name the flag.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError } from '../errors.js';

export type Flags = NonNullable<ParseArgsConfig['options']>;

export interface Parsed {
  positionals: string[];
  values: Record<string, string | boolean | undefined>;
}

export function parse(command: string, args: string[], flags: Flags, positionals: string[]): Parsed {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { ...flags, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (err) {
    const message = (err as Error).message.split('\n')[0].replace(/\. To specify.*$/, '');
    throw new ConfigError(`evolq ${command}: ${message}`);
  }
  const values = parsed.values as Parsed['values'];
  if (values.help) return { positionals: parsed.positionals, values };
  if (parsed.positionals.length !== positionals.length) {
    const extra = parsed.positionals.slice(positionals.length);
    throw new ConfigError(extra.length
      ? `evolq ${command}: unexpected argument '${extra[0]}'`
      : `evolq ${command}: missing ${positionals.slice(parsed.positionals.length).join(' ')}`);
  }
  return { positionals: parsed.positionals, values };
}

export function required(values: Parsed['values'], flag: string, command: string): string {
  const value = values[flag];
  if (typeof value !== 'string' || value === '') throw new ConfigError(`evolq ${command}: --${flag} is required`, `--${flag}`);
  return value;
}

/** "32" or "224x224" → [height, width]. */
export function sizeFlag(value: string | boolean | undefined): [number, number] | undefined {
  if (typeof value !== 'string') return undefined;
  const parts = value.split('x').map(Number);
  if (parts.length > 2 || parts.some((p) => !Number.isInteger(p) || p <= 0)) throw new ConfigError(`--size must be N or HxW, got "${value}"`, '--size');
  return [parts[0], parts[1] ?? parts[0]];
}

/** "0.5,0.5,0.5" → numbers. */
export function listFlag(value: string | boolean | undefined, flag: string): number[] | undefined {
  if (typeof value !== 'string') return undefined;
  const list = value.split(',').map(Number);
  if (list.some((v) => !Number.isFinite(v))) throw new ConfigError(`${flag} must be comma-separated numbers, got "${value}"`, flag);
  return list;
}
