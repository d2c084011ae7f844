// The options that say where things are and how to run (folders, model file, runtime, output): each command's
// request takes them by these names. The recipe's options are in table.ts.
import * as values from './values.js';
import {
  switchOption,
  integerOption,
  optionalInteger,
  valueOption,
  optionalValue,
  type OptionSpec,
  type OptionValue,
} from './spec.js';
import { QUANTIZE_OPTIONS, RUN } from './table.js';
import { TASKS } from '../task.js';

const MODEL_COMMANDS: readonly ['eval', 'quantize', 'landscape'] = ['eval', 'quantize', 'landscape'];

export const REQUEST_OPTIONS = {
  calib: optionalValue(values.text, {
    commands: RUN,
    requiredIn: RUN,
    value: 'DIR',
    help: 'Calibration images: any folder tree of images (no labels needed).',
  }),
  out: optionalValue(values.text, {
    commands: RUN,
    requiredIn: RUN,
    value: 'DIR',
    help: 'The output folder (a model folder itself); landscape adds its files to an evolq output folder.',
  }),
  eval: optionalValue(values.text, {
    commands: RUN,
    value: 'DIR',
    help: 'Labelled images (root/<class>/<image>) to measure accuracy on; without it, the holdout images.',
  }),
  data: optionalValue(values.text, {
    commands: ['eval'],
    requiredIn: ['eval'],
    value: 'DIR',
    help: 'Labelled images (root/<class>/<image>).',
  }),
  limit: optionalInteger(1, { commands: ['eval'], help: 'A class-balanced subset of this many images.' }),
  unit: optionalInteger(0, {
    commands: ['landscape'],
    help: 'The search unit whose landscape is measured (0 = first; default the last).',
  }),
  points: integerOption(
    3,
    41,
    { commands: ['landscape'], help: 'Points along each line (a roughness needs 3).' },
    10_001,
  ),
  radius: valueOption(values.positiveNumber, 0.1, {
    commands: ['landscape'],
    value: 'R',
    help: "The relative step to each line's end (below 1).",
  }),
  grid: integerOption(0, 21, { commands: ['landscape'], help: 'Points per side of the 2-D grid (0: none).' }, 1001),
  modelFile: optionalValue(values.text, {
    commands: ['inspect', ...MODEL_COMMANDS],
    value: 'NAME',
    help: 'In a model folder, the .onnx file to use instead of model.onnx (looked up in onnx/, then in the folder).',
  }),
  output: optionalValue(values.text, {
    commands: ['inspect', ...MODEL_COMMANDS],
    value: 'NAME',
    help: 'Of a model with several outputs (features and logits), the one evolq scores; model.onnx keeps only it.',
  }),
  task: optionalValue((v, flag) => values.oneOf(v, TASKS, flag), {
    commands: ['inspect', ...MODEL_COMMANDS],
    value: TASKS.join('|'),
    help: "What the scored output is: class logits, or an image encoder's embedding (then the search fits embeddings with infoNCE and evaluation reports cosine to float and k-NN top-1). Default: detected from the output's name and shape and config.json (id2label).",
  }),
  size: optionalValue(values.size, {
    commands: MODEL_COMMANDS,
    value: 'HxW',
    help: 'Input size of a bare .onnx with a dynamic input size and no preprocessor_config.json.',
  }),
  mean: optionalValue(values.numberList, {
    commands: MODEL_COMMANDS,
    value: 'a,b,c',
    help: 'Normalization mean of a bare .onnx without preprocessor_config.json.',
  }),
  std: optionalValue(values.numberList, {
    commands: MODEL_COMMANDS,
    value: 'a,b,c',
    help: 'Normalization std of a bare .onnx without preprocessor_config.json.',
  }),
  device: optionalValue(values.text, {
    commands: MODEL_COMMANDS,
    value: 'NAME',
    help: 'An execution provider of the installed onnxruntime-node (`evolq --help` lists them).',
  }),
  threads: optionalInteger(
    1,
    { commands: MODEL_COMMANDS, help: 'Threads for one operator (default: every core).' },
    1024,
  ),
  images: optionalValue(values.text, {
    commands: ['serve'],
    value: 'DIR',
    help: 'Images to classify in the demo page.',
  }),
  count: integerOption(1, 20, { commands: ['serve'], help: 'How many of them.' }),
  port: integerOption(0, 8080, { commands: ['serve'], help: 'The port to serve on (0: any free one).' }, 65535),
  json: switchOption(false, {
    commands: ['inspect', ...MODEL_COMMANDS],
    help: 'Print one JSON object on stdout; progress goes to stderr.',
  }),
  quiet: switchOption(false, { commands: ['inspect', ...MODEL_COMMANDS], short: 'q', help: 'No progress on stderr.' }),
} as const;

export type RequestOptionName = keyof typeof REQUEST_OPTIONS;
export type RequestOptions = { -readonly [K in RequestOptionName]: OptionValue<(typeof REQUEST_OPTIONS)[K]> };

export const ALL_OPTIONS: Readonly<Record<string, OptionSpec<unknown>>> = { ...QUANTIZE_OPTIONS, ...REQUEST_OPTIONS };
