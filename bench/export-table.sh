#!/usr/bin/env bash
# The export table of the closing notes: for each trained zoo model at W8A8, W4A8 and W3A8, the simulated
# top-1 (baseline, and Evol-Q seed 0) against OUT/model.onnx's, on the full CIFAR-10 test set, with sizes.
# Needs ../shared. Writes bench/results/export/<model>-w<bits>a8-<method>.json and prints the table.
# About 40 s a baseline run and 2.5 minutes an Evol-Q run on 2 cores; 12 runs.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared}
OUT=bench/results/export
mkdir -p "$OUT"
run() { # model bits method
  local name="$1-w$2a8-$3"
  [ -s "$OUT/$name.json" ] && return 0
  node bin/evolq.js quantize "$SHARED/zoo/$1" --calib "$SHARED/data/cifar10/train" --eval "$SHARED/data/cifar10/test" \
    --method "$3" --w-bits "$2" --a-bits 8 --seed 0 --no-float-fallback --out "$OUT/models/$name" --json --quiet > "$OUT/$name.json.tmp"
  mv "$OUT/$name.json.tmp" "$OUT/$name.json"
  rm -rf "$OUT/models/$name"
  echo "$name done" >&2
}
for model in vit-cifar10 resnet-cifar10; do
  for bits in 8 4 3; do
    for method in baseline evolq; do run "$model" "$bits" "$method"; done
  done
done
node bench/export-summary.js
