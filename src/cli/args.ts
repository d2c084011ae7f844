// Argument parsing only: a command's flags, built from the option table, to raw recipe options and parsed
// request options, with errors that name the flag.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError } from '../errors.js';
import { flagName, type Command } from '../options/spec.js';
import { QUANTIZE_OPTIONS, type GivenOptions } from '../options/table.js';
import type { RequestOptions } from '../options/request-table.js';
import { hasNoForm, optionsOf } from '../options/usage.js';

type Flags = NonNullable<ParseArgsConfig['options']>;

export interface CommandLine {
  positionals: string[];
  help: boolean;
  /** Recipe options as given (text or a switch's boolean); resolveOptions checks them. Left out: undefined. */
  options: GivenOptions;
  /** Request options, parsed, with the table's defaults. */
  request: Partial<RequestOptions>;
}

/** `--flag -3` → `--flag=-3` for flags that take a value, so a negative number reaches validation as a value. */
function joinNegativeValues(args: readonly string[], flags: Flags): string[] {
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const name = args[i].startsWith('--') && !args[i].includes('=') ? args[i].slice(2) : undefined;
    if (name && flags[name]?.type === 'string' && /^-[\d.]/.test(args[i + 1] ?? ''))
      joined.push(`${args[i]}=${args[++i]}`);
    else joined.push(args[i]);
  }
  return joined;
}

function flagsOf(command: Command): Flags {
  const flags: Flags = { help: { type: 'boolean', short: 'h' } };
  for (const [name, spec] of optionsOf(command)) {
    flags[flagName(name)] = { type: spec.type, ...(spec.short ? { short: spec.short } : {}) };
    if (hasNoForm(name, spec)) flags[`no-${flagName(name)}`] = { type: 'boolean' };
  }
  return flags;
}

/** The CLI's error messages get the `evolq COMMAND:` prefix once, from main. */
export function parseCommand(command: Command, args: string[], positionals: string[]): CommandLine {
  const flags = flagsOf(command);
  let parsed;
  try {
    parsed = parseArgs({ args: joinNegativeValues(args, flags), options: flags, allowPositionals: true, strict: true });
  } catch (err) {
    throw new ConfigError((err as Error).message.split('\n')[0].replace(/\. To specify.*$/, ''));
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  const line: CommandLine = { positionals: parsed.positionals, help: Boolean(values.help), options: {}, request: {} };
  if (line.help) return line;
  if (parsed.positionals.length !== positionals.length) {
    const extra = parsed.positionals.slice(positionals.length);
    throw new ConfigError(
      extra.length
        ? `unexpected argument '${extra[0]}'`
        : `missing ${positionals.slice(parsed.positionals.length).join(' ')}`,
    );
  }
  for (const [name, spec] of optionsOf(command)) {
    const flag = flagName(name);
    let value = values[flag];
    if (values[`no-${flag}`]) {
      if (value) throw new ConfigError(`give --${flag} or --no-${flag}, not both`, `--${flag}`);
      value = false;
    }
    if (name in QUANTIZE_OPTIONS) {
      // The table gives each option its type: a switch's value is a boolean, every other one text.
      (line.options as Record<string, unknown>)[name] = value;
      continue;
    }
    if (value === undefined && spec.requiredIn?.includes(command))
      throw new ConfigError(`--${flag} is required`, `--${flag}`);
    (line.request as Record<string, unknown>)[name] =
      value === undefined ? spec.default : spec.parse(value, `--${flag}`);
  }
  return line;
}
