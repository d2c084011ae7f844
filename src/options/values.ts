// How an option's value is read, from the command line (text) or the API (text or a typed value). Each parser
// throws a ConfigError that names the flag and what it expected.
import { ConfigError } from '../errors.js';

export type Parser<T> = (value: unknown, flag: string) => T;

// Plain decimal only: Number() would also take '0x8', '1e2' and '' as numbers.
const INTEGER_TEXT = /^\s*[+-]?\d+\s*$/;
const NUMBER_TEXT = /^\s*[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?\s*$/i;

/** A string written as a decimal integer becomes that number; anything else is returned as it is. */
const integerText = (value: unknown) => (typeof value === 'string' && INTEGER_TEXT.test(value) ? Number(value) : value);
/** A string written as a plain decimal (or exponent) number becomes that number; anything else as it is. */
const numberText = (value: unknown) => (typeof value === 'string' && NUMBER_TEXT.test(value) ? Number(value) : value);

export function oneOf<T>(value: unknown, allowed: readonly T[], flag: string): T {
  const typed = typeof allowed[0] === 'number' ? integerText(value) : value;
  if (!allowed.includes(typed as T)) {
    throw new ConfigError(`Unsupported ${flag}: "${value}". Should be one of: ${allowed.join(', ')}.`, flag);
  }
  return typed as T;
}

export function integer(value: unknown, flag: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = integerText(value);
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in ${min}..${max}`;
    throw new ConfigError(`${flag} must be an integer ${range}, got "${value}"`, flag);
  }
  return n;
}

export function nonNegativeNumber(value: unknown, flag: string): number {
  const n = numberText(value);
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0)
    throw new ConfigError(`${flag} must be a number >= 0, got "${value}"`, flag);
  return n;
}

export function positiveNumber(value: unknown, flag: string): number {
  const n = numberText(value);
  if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0)
    throw new ConfigError(`${flag} must be a positive number, got "${value}"`, flag);
  return n;
}

/** true or false; the command line gives booleans, the API may too (a string is refused, not read as truthy). */
export function boolean(value: unknown, flag: string): boolean {
  if (typeof value !== 'boolean') throw new ConfigError(`${flag} must be true or false, got "${value}"`, flag);
  return value;
}

/** Names separated by commas (the command line), or an array of them (the API); empty entries are refused. */
export function textList(value: unknown, flag: string): string[] {
  const list = typeof value === 'string' ? value.split(',').map((s) => s.trim()) : value;
  if (!Array.isArray(list) || !list.every((s) => typeof s === 'string' && s !== ''))
    throw new ConfigError(`${flag} must be names separated by commas, got "${value}"`, flag);
  return list as string[];
}

export function text(value: unknown, flag: string): string {
  if (typeof value !== 'string' || value === '')
    throw new ConfigError(`${flag} must be a non-empty string, got "${value}"`, flag);
  return value;
}

const MAC_UNITS: Record<string, number> = { '': 1, k: 1e3, m: 1e6, g: 1e9, t: 1e12, p: 1e15 };

/** A count of multiply-accumulates: 100T, 2.5e13, 500G; 0 or `none` for no limit. */
export function macs(value: unknown, flag: string): number {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value;
  if (typeof value === 'string' && /^\s*(0|none)\s*$/i.test(value)) return 0;
  const match = typeof value === 'string' ? /^\s*(\d+(?:\.\d+)?(?:e\d+)?)\s*([kmgtp]?)\s*$/i.exec(value) : null;
  if (!match)
    throw new ConfigError(
      `${flag} must be a count of multiply-accumulates such as 100T, 500G or 2e14 (0 or none: no limit), got "${value}"`,
      flag,
    );
  return Number(match[1]) * MAC_UNITS[match[2].toLowerCase()];
}

const BYTE_UNITS: Record<string, number> = {
  '': 1024 ** 2,
  b: 1,
  k: 1024,
  kb: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
};

/** Bytes: 3G, 512M, 1.5GB (a bare number is MiB). */
export function bytes(value: unknown, flag: string): number {
  if (typeof value === 'number' && Number.isFinite(value) && value > 0) return Math.floor(value);
  const match = typeof value === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*([kmg]b?|b)?\s*$/i.exec(value) : null;
  if (!match)
    throw new ConfigError(
      `${flag} must be a size such as 3G, 512M or 1.5GB (a bare number is MiB), got "${value}"`,
      flag,
    );
  const size = Math.floor(Number(match[1]) * BYTE_UNITS[(match[2] ?? '').toLowerCase()]);
  if (size < 1) throw new ConfigError(`${flag} must be more than 0, got "${value}"`, flag);
  return size;
}

/** The largest input side --size takes: a 4096×4096 image is 200 MB as float32 at batch 1. */
export const MAX_SIDE = 4096;

/** "32" or "224x224" → [height, width]. */
export function size(value: unknown, flag: string): [number, number] {
  const parts = Array.isArray(value)
    ? value
    : typeof value === 'string'
      ? value.split('x').map((p) => (/^\d+$/.test(p) ? Number(p) : NaN))
      : [NaN];
  if (parts.length < 1 || parts.length > 2 || parts.some((p) => !Number.isInteger(p) || p <= 0 || p > MAX_SIDE))
    throw new ConfigError(`${flag} must be N or HxW, each from 1 to ${MAX_SIDE}, got "${value}"`, flag);
  return [parts[0], parts[1] ?? parts[0]];
}

/** "0.5,0.5,0.5" → numbers. */
export function numberList(value: unknown, flag: string): number[] {
  if (Array.isArray(value) && value.every((v) => typeof v === 'number' && Number.isFinite(v))) return value;
  const list = typeof value === 'string' ? value.split(',').map((v) => (NUMBER_TEXT.test(v) ? Number(v) : NaN)) : [NaN];
  if (list.some((v) => !Number.isFinite(v)))
    throw new ConfigError(`${flag} must be comma-separated numbers, got "${value}"`, flag);
  return list;
}

/** A parser that lets undefined through: for options with no default. */
export function optional<T>(parse: Parser<T>): Parser<T | undefined> {
  return (value, flag) => (value === undefined ? undefined : parse(value, flag));
}

/** A fraction of the float model's latency, above 0 and below 1 (float itself already meets 1). */
export function latencyFraction(value: unknown, flag: string): number {
  const n = numberText(value);
  if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0 || n >= 1)
    throw new ConfigError(
      `${flag} must be a fraction of the float model's latency above 0 and below 1 (e.g. 0.6), got "${value}"`,
      flag,
    );
  return n;
}

/** A model file size to stay within: bytes, or a fraction of the float model's file. */
export type SizeBudget = { bytes: number } | { fraction: number };

/** `0.2` (a fraction of float's file, below 1) or `5MB`, `800K`, `582815B` (a size with its unit: K, M, G are 1024-based). */
export function sizeBudget(value: unknown, flag: string): SizeBudget {
  const n = numberText(value);
  if (typeof n === 'number') {
    if (Number.isFinite(n) && n > 0 && n < 1) return { fraction: n };
    throw new ConfigError(
      `${flag} must be a fraction of the float model's size below 1 (e.g. 0.2) or a size with its unit (e.g. 5MB), got "${value}"`,
      flag,
    );
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const given = value as Record<string, unknown>;
    if (Object.keys(given).length === 1 && 'bytes' in given) return { bytes: integer(given.bytes, `${flag}.bytes`, 1) };
    if (Object.keys(given).length === 1 && 'fraction' in given) return sizeBudget(given.fraction, flag);
  }
  if (typeof value !== 'string' || !/^\s*\d+(\.\d+)?\s*([kmg]b?|b)\s*$/i.test(value))
    throw new ConfigError(
      `${flag} must be a fraction of the float model's size below 1 (e.g. 0.2) or a size with its unit (e.g. 5MB), got "${value}"`,
      flag,
    );
  return { bytes: bytes(value, flag) };
}

/**
 * Bit widths separated by commas (`float,8,4,2`) or an array of them, each one of `allowed` or `float` (read as
 * `float`, the number that stands for it), no repeats; largest first.
 */
export function bitChoices(allowed: readonly number[], float: number): Parser<number[]> {
  return (value, flag) => {
    const list = typeof value === 'string' ? value.split(',').map((s) => s.trim()) : value;
    if (!Array.isArray(list) || !list.length)
      throw new ConfigError(`${flag} must be bit widths separated by commas (e.g. 8,4,2), got "${value}"`, flag);
    const widths = list.map((v) =>
      v === 'float' || v === float ? float : oneOf(v, [...allowed, 'float'] as readonly unknown[], flag),
    ) as number[];
    if (new Set(widths).size !== widths.length)
      throw new ConfigError(`${flag} names a width twice: "${list.join(',')}"`, flag);
    return [...widths].sort((a, b) => b - a);
  };
}
