// The usage text and docs/cli.md, both written from the option table: a flag, its default or choices and its
// help appear nowhere else.
import { COMMANDS, flagName, type Command, type OptionSpec } from './spec.js';
import { QUANTIZE_OPTIONS } from './table.js';
import { ALL_OPTIONS } from './request-table.js';

export const COMMAND_DOCS: Readonly<Record<Command, { args: string; summary: string }>> = {
  inspect: { args: 'MODEL', summary: 'Lists the quant points and search units of a model.' },
  eval: { args: 'MODEL', summary: 'Measures top-1 and top-5 of a model on labelled images.' },
  quantize: {
    args: 'MODEL',
    summary: 'Calibrates the FQ-ViT baseline, runs the Evol-Q search with --method evolq, evaluates and writes OUT.',
  },
  landscape: {
    args: 'MODEL',
    summary: 'Measures the loss landscape of one search unit along lines and a grid of scale moves.',
  },
  serve: {
    args: 'OUT',
    summary: 'Serves a browser demo that classifies images with OUT/model.onnx in onnxruntime-web, until Ctrl-C.',
  },
};

export const MODEL_HELP =
  "MODEL is a folder with model.onnx (or onnx/model.onnx, or --model-file NAME in onnx/) and preprocessor_config.json (and config.json with id2label), or a .onnx file (its folder's configs are used; without them give --mean, --std and, for a dynamic input size, --size).";

/** The options a command takes, in table order. */
export function optionsOf(command: Command): [string, OptionSpec<unknown>][] {
  return Object.entries(ALL_OPTIONS).filter(([, spec]) => spec.commands.includes(command));
}

const isRecipe = (name: string) => name in QUANTIZE_OPTIONS;

/** Every switch of the recipe has a `--no-` form too (it overrides a preset); the others are plain switches. */
export const hasNoForm = (name: string, spec: OptionSpec<unknown>) => spec.type === 'boolean' && isRecipe(name);

/** `--w-bits 8|4|3`, `--[no-]ptf`, `--calib DIR`. */
export function flagForm(name: string, spec: OptionSpec<unknown>): string {
  if (spec.type === 'boolean') return hasNoForm(name, spec) ? `--[no-]${flagName(name)}` : `--${flagName(name)}`;
  return `--${flagName(name)} ${spec.value}`;
}

const show = (value: unknown) =>
  typeof value === 'number' && value >= 1e12 && value % 1e12 === 0 ? `${value / 1e12}T` : String(value);

/** The default as the docs state it: per command, at low activation bits, under --preset paper. */
export function defaultText(name: string, spec: OptionSpec<unknown>, command: Command): string {
  if (spec.requiredIn?.includes(command)) return 'required';
  const parts: string[] = [];
  const own = spec.commandDefaults?.[command] ?? spec.default;
  if (spec.shownDefault) parts.push(spec.shownDefault);
  else if (own !== undefined && !(spec.type === 'boolean' && !isRecipe(name))) parts.push(show(own));
  if (spec.commandDefaults?.[command] === undefined) {
    const takes = (option: OptionSpec<unknown>) => option.commands.includes(command);
    if (spec.lowActivation !== undefined && takes(QUANTIZE_OPTIONS.aBits))
      parts.push(`${show(spec.lowActivation)} at --a-bits 4`);
    if (spec.paper !== undefined && spec.paper !== spec.default && takes(QUANTIZE_OPTIONS.preset))
      parts.push(`${show(spec.paper)} with --preset paper`);
  }
  return parts.join('; ');
}

/** Joins tokens into lines of at most `width` characters; lines after the first start with `indent`. */
function wrap(tokens: readonly string[], width: number, indent: string): string {
  const lines: string[] = [];
  let line = '';
  for (const token of tokens) {
    if (line.trim() && line.length + 1 + token.length > width) {
      lines.push(line);
      line = indent + token;
    } else line = line.trim() ? `${line} ${token}` : line + token;
  }
  return [...lines, line].join('\n');
}
const words = (text: string) => text.split(' ');

/** One command's synopsis: `evolq quantize MODEL --calib DIR --out DIR [--method baseline|evolq] ...`. */
export function synopsis(command: Command): string {
  const options = optionsOf(command);
  const required = options
    .filter(([, spec]) => spec.requiredIn?.includes(command))
    .map(([name, spec]) => flagForm(name, spec));
  const optional = options
    .filter(([, spec]) => !spec.requiredIn?.includes(command))
    .map(([name, spec]) => `[${flagForm(name, spec)}]`);
  return wrap([`evolq ${command} ${COMMAND_DOCS[command].args}`, ...required, ...optional], 118, '      ');
}

/** `evolq --help`: every command's synopsis. */
export function usage(devices: string): string {
  return [
    'evolq: post-training quantization of vision models (ONNX) with Evol-Q',
    '',
    'usage:',
    ...COMMANDS.map((c) => `  ${synopsis(c)}`),
    '',
    wrap(words(MODEL_HELP), 118, ''),
    `--device names an execution provider of the installed onnxruntime-node (${devices}).`,
    '`evolq COMMAND --help` explains each option of a command; docs/cli.md has them all.',
  ].join('\n');
}

/** `evolq COMMAND --help`: the synopsis and each option with its default and help. */
export function commandUsage(command: Command): string {
  const lines = [COMMAND_DOCS[command].summary, '', `usage: ${synopsis(command)}`, '', 'options:'];
  for (const [name, spec] of optionsOf(command)) {
    const fallback = defaultText(name, spec, command);
    lines.push(
      `  ${flagForm(name, spec)}${fallback ? ` (${fallback})` : ''}`,
      wrap(words(spec.help), 112, '      ').replace(/^/, '      '),
    );
  }
  return lines.join('\n');
}

const cell = (text: string) => text.replace(/\|/g, '\\|');

/** docs/cli.md: every command with a table of its options. */
export function cliMarkdown(): string {
  const parts = [
    '# Command line',
    '',
    '<!-- Generated from src/options/table.ts by `npm run docs:cli`; a unit test fails when it is stale. -->',
    '',
    MODEL_HELP,
    '',
    'Every switch of the quantization recipe has a `--no-` form, which overrides a preset. Options given explicitly override `--preset`. `--json` prints one JSON object on stdout; progress goes to stderr. Exit code 0 on success, 1 with a one-line reason on a bad input.',
  ];
  for (const command of COMMANDS) {
    parts.push(
      '',
      `## evolq ${command}`,
      '',
      COMMAND_DOCS[command].summary,
      '',
      '```',
      synopsis(command),
      '```',
      '',
      '| option | default | what it does |',
      '|---|---|---|',
    );
    for (const [name, spec] of optionsOf(command))
      parts.push(
        `| \`${cell(flagForm(name, spec))}\` | ${cell(defaultText(name, spec, command))} | ${cell(spec.help)} |`,
      );
  }
  return `${parts.join('\n')}\n`;
}
