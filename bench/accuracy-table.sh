#!/usr/bin/env bash
# The accuracy table of the closing notes: float, FQ-ViT baseline and Evol-Q on the full CIFAR-10 test set, three
# seeds per setting, for the defaults and (where the CLI has it) --preset paper. Needs ../shared.
#   MODELS    zoo models, test fixtures or outlier variants (default: vit-cifar10 vit-outlier-k8 resnet-cifar10);
#             vit-outlier-kK is written by bench/outlier-variant.py from vit-cifar10 (k = K on 6 channels per layer)
#   SETTINGS  W:A pairs (default: 8:8 4:8 3:8 4:4 3:4)
#   PRESETS   default and/or paper (default: both; paper only where `quantize --preset` exists)
#   SEEDS     (default: 0 1 2)
#   EXTRA     more quantize flags for every run, and TAG a name for them in the result files
# Every run passes --no-float-fallback, so that the rows do not depend on this machine's timing.
# e.g. MODELS=levit SETTINGS="8:8 4:8" PRESETS=default for the LeViT-style fixture.
# Writes bench/results/accuracy/<model>-w<W>a<A>-<preset><TAG>-seed<k>.json; bench/accuracy-summary.js makes the table,
# bench/holdout-noise.js the holdout each run would need (bench/results/holdout-noise.md).
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared}
OUT=bench/results/accuracy
mkdir -p "$OUT" bench/results/variants
MODELS=${MODELS-vit-cifar10 vit-outlier-k8 resnet-cifar10}
SETTINGS=${SETTINGS-8:8 4:8 3:8 4:4 3:4}
PRESETS=${PRESETS-default paper}
SEEDS=${SEEDS-0 1 2}
EXTRA=${EXTRA-}
TAG=${TAG-}
has_preset() { node bin/evolq.js quantize --help 2>&1 | grep -q -- '--preset'; }
model_dir() {
  case "$1" in
    vit-outlier-k*)
      local dir="bench/results/variants/$1"
      [ -s "$dir/model.onnx" ] || /usr/bin/python3 bench/outlier-variant.py "$SHARED/zoo/vit-cifar10" --out "$dir" --k "${1#vit-outlier-k}" > /dev/null
      echo "$dir" ;;
    *) if [ -d "$SHARED/zoo/$1" ]; then echo "$SHARED/zoo/$1"; else echo "test/fixtures/models/$1"; fi ;;
  esac
}
run() { # model wbits abits preset seed
  local name="$1-w$2a$3-$4$TAG-seed$5"
  [ -s "$OUT/$name.json" ] && return 0
  local preset=()
  [ "$4" = default ] || preset=(--preset "$4")
  node bin/evolq.js quantize "$(model_dir "$1")" --calib "$SHARED/data/cifar10/train" --eval "$SHARED/data/cifar10/test" \
    --method evolq --w-bits "$2" --a-bits "$3" "${preset[@]}" --seed "$5" --no-float-fallback $EXTRA --out "$OUT/models/$name" --json --quiet > "$OUT/$name.json.tmp"
  mv "$OUT/$name.json.tmp" "$OUT/$name.json"
  rm -rf "$OUT/models/$name"
  echo "$name done" >&2
}
for setting in $SETTINGS; do
  for model in $MODELS; do
    for preset in $PRESETS; do
      if [ "$preset" != default ] && ! has_preset; then echo "skipping --preset $preset: this CLI has no --preset" >&2; continue; fi
      for seed in $SEEDS; do run "$model" "${setting%%:*}" "${setting##*:}" "$preset" "$seed"; done
    done
  done
done
node bench/accuracy-summary.js
node bench/holdout-noise.js > bench/results/holdout-noise.md
