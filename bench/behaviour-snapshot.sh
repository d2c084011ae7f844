#!/usr/bin/env bash
# Fingerprints of what quantize writes for a fixed set of runs: one line per run with the sha256 of quant.json and
# model.onnx and report.json's accuracies. Run it before and after a change that must not change behaviour, on one
# machine, and diff the two files (calibration runs onnxruntime's float kernels, whose summation order differs
# between CPUs, so the bytes are only comparable on one CPU).
#   bash bench/behaviour-snapshot.sh OUT.txt [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: bench/behaviour-snapshot.sh OUT.txt [WORKDIR]}
WORK=${2:-$(mktemp -d)}; mkdir -p "$WORK"
MODELS=${MODELS:-"vit-cifar10-tiny deit-cifar10-tiny swin-cifar10-tiny tvvit-cifar10-tiny resnet-cifar10-small levit"}
RUNS=${RUNS:-"w8a8:--w-bits 8 --a-bits 8
w4a8:--w-bits 4 --a-bits 8
w4a4:--w-bits 4 --a-bits 4
w4a4-evolq:--w-bits 4 --a-bits 4 --method evolq --passes 1 --population 4 --cycles 1
paper-w8a8-evolq:--preset paper --w-bits 8 --a-bits 8 --method evolq --passes 1 --population 4 --cycles 1"}
: > "$OUT"
for model in $MODELS; do
  while IFS= read -r run; do
    name=${run%%:*}; flags=${run#*:}
    dir="$WORK/$model-$name"
    rm -rf "$dir"
    # shellcheck disable=SC2086
    node bin/evolq.js quantize "test/fixtures/models/$model" --keep-simulation --calib assets/cifar10/calib --eval assets/cifar10/test \
      --eval-limit 100 --calib-size 200 --holdout 50 --threads 1 --no-float-fallback --quiet $flags --out "$dir" \
      > /dev/null 2> "$dir.log" || { echo "$model $name FAILED: $(tail -1 "$dir.log")" >> "$OUT"; continue; }
    q=$(sha256sum "$dir/quant.json" | cut -c1-16)
    m=$(sha256sum "$dir/model.onnx" | cut -c1-16)
    acc=$(node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1]));const f=(a)=>a?a.top1.toFixed(4):"-";console.log(`baseline ${f(r.baseline)} evolq ${f(r.evolq)} exported ${f(r.exported)}`)' "$dir/report.json")
    echo "$model $name quant.json $q model.onnx $m $acc" >> "$OUT"
  done <<< "$RUNS"
done
cat "$OUT"
