// A library request checked at the boundary, as the CLI checks its flags: the request is an object, the fields a
// command needs are there, and each value passes its option's parser. Messages name the request's fields, not
// flags ("limit must be an integer >= 1, got "0"").
import { ConfigError } from '../errors.js';
import type { Command, OptionSpec } from './spec.js';
import { ALL_OPTIONS } from './request-table.js';

/** A field of a request: an option of the tables, or a path (`model`) or object (`options`) the table has no entry for. */
type FieldCheck = 'path' | 'object';

/**
 * Checks `request` for `command`: every field in `fields` (table options by name, or 'path'/'object' checks) is
 * present where required and well-typed where given. Returns the request, typed.
 */
export function checkRequest<T>(
  command: Command,
  request: T,
  fields: Readonly<Record<string, FieldCheck | 'option'>>,
  required: readonly string[] = [],
): T {
  if (typeof request !== 'object' || request === null || Array.isArray(request))
    throw new ConfigError(
      `${command}(): expected a request object with ${required.join(', ')}, got ${describe(request)}`,
      command,
    );
  const given = request as Record<string, unknown>;
  for (const name of required)
    if (given[name] === undefined || given[name] === null)
      throw new ConfigError(`${command}(): ${name} is required${what(name)}`, name);
  for (const [name, check] of Object.entries(fields)) {
    const value = given[name];
    if (value === undefined) continue;
    if (check === 'path' && (typeof value !== 'string' || value === ''))
      throw new ConfigError(`${command}(): ${name} must be a path, got ${describe(value)}`, name);
    if (check === 'object' && (typeof value !== 'object' || value === null || Array.isArray(value)))
      throw new ConfigError(`${command}(): ${name} must be an object, got ${describe(value)}`, name);
    if (check === 'option') (ALL_OPTIONS[name] as OptionSpec<unknown>).parse(value, name);
  }
  return request;
}

function what(name: string): string {
  const spec = ALL_OPTIONS[name];
  return spec ? ` (${spec.help.replace(/\.$/, '').toLowerCase()})` : '';
}

function describe(value: unknown): string {
  if (value === undefined || value === null) return String(value);
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string' ? `"${value}"` : typeof value === 'object' ? 'an object' : String(value);
}

/** The fields of a quantize or landscape request. */
export const RUN_FIELDS = {
  model: 'path',
  calib: 'path',
  out: 'path',
  eval: 'path',
  options: 'object',
  modelOptions: 'object',
  runtime: 'object',
} as const;
