// bench/exactness.ts's output: bench/results/exactness.json (the machine, versions, command, per-setting notes and
// every row) and exactness.md (the table).
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GivenOptions } from '../src/options/table.js';
import { cpuReport } from '../src/runtime/cpu.js';
import { runtimeVersions, QEMU_CPU } from './exactness-runtimes.js';
import { markdownTable, TARGETS, type Row } from './exactness-metrics.js';

export interface SettingRun {
  name: string;
  options: GivenOptions;
  folder: string;
  /** null when --keep's folder was reused. */
  quantizeSeconds: number | null;
  /** report.json's exported.saturable: kernels that AVX2 without VNNI can saturate. */
  saturable: string[];
  warnings: string[];
  qemuSeconds?: number;
  qemuError?: string;
}

export interface ModelResult {
  name: string;
  dir: string;
  skipped?: string;
  images?: number;
  nativeSeconds?: number;
  settings: SettingRun[];
  rows: Row[];
}

export interface RunInfo {
  images: number;
  qemu: boolean;
  seconds: number;
  /** The settings TARGETS apply to. */
  judged: string[];
  /** Where the files go. */
  folder: string;
}

function cpuModelName(): string {
  try {
    const name = /^Model name:\s*(.+)$/m.exec(execFileSync('lscpu', { encoding: 'utf8' }))?.[1].trim();
    if (name) return name;
  } catch {
    // no lscpu: os.cpus() below
  }
  return cpuReport().model;
}

function flagsText(flags: ReturnType<typeof cpuReport>['flags']): string {
  if (flags === 'unknown') return 'flags unknown';
  return Object.entries(flags)
    .map(([f, on]) => (on ? f : `no ${f}`))
    .join(', ');
}

/** Writes exactness.json and exactness.md into `info.folder`; returns the table. */
export function writeResults(info: RunInfo, results: readonly ModelResult[]): string {
  const rows = results.flatMap((r) => r.rows);
  const table = markdownTable(rows);
  const command = `npm run bench:exactness${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const failing = rows.filter((r) => r.withinTargets === false);
  const notes = [
    ...results.filter((r) => r.skipped).map((r) => `${r.name}: skipped (${r.skipped})`),
    ...(info.qemu ? [] : ['qemu-x86_64 not installed or --no-qemu: no AVX2 rows']),
    ...results.flatMap((r) => r.settings.filter((s) => s.qemuError).map((s) => `${r.name} ${s.name}: ${s.qemuError}`)),
  ];
  const json = {
    date: new Date().toISOString(),
    command,
    images: info.images,
    cpu: { model: cpuModelName(), flags: cpuReport().flags },
    emulated: info.qemu ? { cpu: QEMU_CPU, why: 'AVX2, no AVX-512, no VNNI' } : null,
    versions: runtimeVersions(),
    targets: { ...TARGETS, appliesTo: info.judged },
    seconds: info.seconds,
    models: results.map(({ rows: _rows, ...rest }) => rest),
    rows,
    failing: failing.map((r) => `${r.model} ${r.setting} ${r.runtime}`),
    notes,
  };
  mkdirSync(info.folder, { recursive: true });
  writeFileSync(join(info.folder, 'exactness.json'), JSON.stringify(json, null, 2) + '\n');
  const md = [
    '# Exactness of model.onnx across runtimes',
    '',
    `\`${command}\` on ${json.date.slice(0, 10)}: ${json.cpu.model} (${flagsText(json.cpu.flags)}), ` +
      `onnxruntime-node ${json.versions['onnxruntime-node']}, onnxruntime-web ${json.versions['onnxruntime-web']} ` +
      `(wasm in Node), ${json.versions.qemu} -cpu ${QEMU_CPU}; ${rows[0]?.images ?? 0} images of ` +
      `assets/cifar10/test; ${json.seconds} s.`,
    `Targets (${info.judged.join(', ')}): |Δ top-1| ≤ ${TARGETS.top1Points} points and |KL vs sim| ≤ ` +
      `${100 * TARGETS.klRatio}%.`,
    '',
    table,
    '',
    ...notes.map((n) => `- ${n}`),
  ].join('\n');
  writeFileSync(join(info.folder, 'exactness.md'), md + '\n');
  return table;
}
