#!/usr/bin/env bash
# The accuracy table of the closing notes: float, FQ-ViT baseline and Evol-Q on the full CIFAR-10 test set for
# every trained zoo model, W3A8/W4A8/W8A8, three seeds each, with each preset of PRESETS (--preset default and
# --preset paper, the Evol-Q authors' recipe), and --loss mse at W4A8 (default preset). Needs ../shared.
# MODELS, BITS, PRESETS and MSE_MODELS choose a part of it, e.g. MODELS=levit BITS="8 4" MSE_MODELS= for the
# LeViT-style fixture (a model name is looked up in ../shared/zoo, then in test/fixtures/models), PRESETS=paper for
# the paper preset alone.
# Writes bench/results/accuracy/<model>-<setting>[-<preset>]-seed<k>.json (no suffix for the default preset);
# bench/accuracy-summary.js makes the table. About 2.5 minutes a run on 2 cores (more with the paper preset); 42 runs.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared}
OUT=bench/results/accuracy
mkdir -p "$OUT"
MODELS=${MODELS-vit-cifar10 resnet-cifar10}
BITS=${BITS-4 3 8}
MSE_MODELS=${MSE_MODELS-vit-cifar10 resnet-cifar10}
PRESETS=${PRESETS-default paper}
model_dir() { if [ -d "$SHARED/zoo/$1" ]; then echo "$SHARED/zoo/$1"; else echo "test/fixtures/models/$1"; fi; }
run() { # model bits loss seed preset
  local preset=${5:-default}
  local name="$1-w$2a8-$3$([ "$preset" = default ] || echo "-$preset")-seed$4"
  [ -s "$OUT/$name.json" ] && return 0
  node bin/evolq.js quantize "$(model_dir "$1")" --calib "$SHARED/data/cifar10/train" --eval "$SHARED/data/cifar10/test" \
    --preset "$preset" --method evolq --w-bits "$2" --a-bits 8 --loss "$3" --seed "$4" --out "$OUT/models/$name" --json --quiet > "$OUT/$name.json.tmp"
  mv "$OUT/$name.json.tmp" "$OUT/$name.json"
  rm -rf "$OUT/models/$name"
  echo "$name done" >&2
}
for bits in $BITS; do
  for model in $MODELS; do
    for preset in $PRESETS; do
      for seed in 0 1 2; do run "$model" "$bits" infonce "$seed" "$preset"; done
    done
  done
done
for model in $MSE_MODELS; do
  for seed in 0 1 2; do run "$model" 4 mse "$seed"; done
done
node bench/accuracy-summary.js
