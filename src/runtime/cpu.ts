// The CPU a run was timed on: its model name and the instruction sets onnxruntime's integer kernels use when present.
import { cpus } from 'node:os';
import { readFileSync } from 'node:fs';

/** VNNI and AMX speed up 8-bit MatMul; without them (AVX2 alone) an int8 model may run no faster than float. */
export const CPU_FLAGS = ['avx512_vnni', 'avx_vnni', 'amx_tile', 'avx2'] as const;
export type CpuFlag = (typeof CPU_FLAGS)[number];

export interface CpuReport {
  model: string;
  /** Which of CPU_FLAGS /proc/cpuinfo lists; 'unknown' where it cannot be read (not Linux). */
  flags: Record<CpuFlag, boolean> | 'unknown';
}

export function cpuReport(): CpuReport {
  return { model: cpus()[0]?.model.trim() || 'unknown', flags: cpuFlags() };
}

/** The flags of /proc/cpuinfo's first `flags` line, checked for CPU_FLAGS. */
export function cpuFlagsFrom(cpuinfo: string): Record<CpuFlag, boolean> | 'unknown' {
  const line = /^flags\s*:(.*)$/m.exec(cpuinfo);
  if (!line) return 'unknown';
  const listed = new Set(line[1].trim().split(/\s+/));
  return Object.fromEntries(CPU_FLAGS.map((f) => [f, listed.has(f)])) as Record<CpuFlag, boolean>;
}

function cpuFlags(): Record<CpuFlag, boolean> | 'unknown' {
  try {
    return cpuFlagsFrom(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return 'unknown';
  }
}
