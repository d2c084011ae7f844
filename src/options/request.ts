// A library request checked at the boundary, as the CLI checks its flags: the request is an object, it has no field
// the command does not take, the fields a command needs are there, and each value passes its option's parser.
// Messages name the request's fields, not flags ("limit must be an integer >= 1, got "0"", "runtime.threads …").
import { ConfigError } from '../errors.js';
import type { Command, OptionSpec } from './spec.js';
import { ALL_OPTIONS } from './request-table.js';

/** An object's fields and how each is checked: a nested object has its own. */
type Fields = { readonly [name: string]: FieldCheck };

/**
 * How a field is checked: by its option's parser in the tables, as a path (`model`), an object (`options`, resolved
 * later), a list of numbers (`mean`), an object with the methods of a Progress or a Runner, or a nested object.
 */
type FieldCheck = 'option' | 'path' | 'object' | 'numbers' | 'progress' | 'runner' | Fields;

/** The methods a `progress` and a `runner` must have. */
const METHODS = { progress: ['start', 'update', 'end', 'log'], runner: ['createSession'] } as const;

/** The model file and preprocessing of eval's options and of quantize's and landscape's `modelOptions`. */
export const MODEL_FIELDS = {
  modelFile: 'option',
  output: 'option',
  task: 'option',
  size: 'option',
  mean: 'numbers',
  std: 'numbers',
} as const;
/** onnxruntime's execution provider and threads (`runtime`). */
const RUNTIME_FIELDS = { device: 'option', threads: 'option' } as const;

/**
 * Checks `request` for `command`: every field in `fields` is present where required and well-typed where given, and
 * no other field is there (a misspelt one would be ignored). Returns the request, typed.
 */
export function checkRequest<T>(command: Command, request: T, fields: Fields, required: readonly string[] = []): T {
  if (typeof request !== 'object' || request === null || Array.isArray(request))
    throw new ConfigError(
      `${command}(): expected a request object with ${required.join(', ')}, got ${describe(request)}`,
      command,
    );
  const given = request as Record<string, unknown>;
  for (const name of required)
    if (given[name] === undefined || given[name] === null)
      throw new ConfigError(`${command}(): ${name} is required${what(name)}`, name);
  checkFields(command, given, fields, '');
  return request;
}

function checkFields(command: Command, given: Record<string, unknown>, fields: Fields, prefix: string): void {
  const unknown = Object.keys(given).filter((name) => !(name in fields) && given[name] !== undefined);
  if (unknown.length)
    throw new ConfigError(
      `${command}(): unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => prefix + n).join(', ')}; ${prefix ? prefix.slice(0, -1) : 'the request'} takes ${Object.keys(fields).join(', ')}`,
      prefix + unknown[0],
    );
  for (const [field, check] of Object.entries(fields)) {
    const value = given[field];
    const name = prefix + field;
    if (value === undefined) continue;
    const fail = (expected: string) => {
      throw new ConfigError(`${command}(): ${name} must be ${expected}, got ${describe(value)}`, name);
    };
    const isObject = typeof value === 'object' && value !== null && !Array.isArray(value);
    if (check === 'path' && (typeof value !== 'string' || value === '')) fail('a path');
    if (check === 'object' && !isObject) fail('an object');
    if (
      check === 'numbers' &&
      !(Array.isArray(value) && value.every((v) => typeof v === 'number' && Number.isFinite(v)))
    )
      fail('an array of numbers');
    if (check === 'option') (ALL_OPTIONS[field] as OptionSpec<unknown>).parse(value, name);
    if (check === 'progress' || check === 'runner') {
      const missing = METHODS[check].filter((m) => typeof (value as Record<string, unknown>)?.[m] !== 'function');
      if (!isObject) fail(`an object with the methods ${METHODS[check].join(', ')}`);
      if (missing.length)
        fail(`an object with the methods ${METHODS[check].join(', ')} (missing ${missing.join(', ')})`);
    }
    if (typeof check === 'object') {
      if (!isObject) fail('an object');
      checkFields(command, value as Record<string, unknown>, check, `${name}.`);
    }
  }
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
  modelOptions: MODEL_FIELDS,
  runtime: RUNTIME_FIELDS,
  runner: 'runner',
  progress: 'progress',
} as const;

/** The fields of an eval request: the model's path and its options. */
export const EVAL_FIELDS = {
  path: 'path',
  data: 'path',
  limit: 'option',
  batchSize: 'option',
  ...MODEL_FIELDS,
  runtime: RUNTIME_FIELDS,
  runner: 'runner',
  progress: 'progress',
} as const;
