#!/usr/bin/env bash
# Throughput of the C++ use_lite plugin against the TF.js reference
# (@tensorflow/tfjs 4.22 pure-JS CPU backend + the USE package's embed()),
# over the same corpus (plugin_bench's built-in one) and the same model files.
#
#   bench/use_lite_vs_tfjs.sh [BUILD_DIR] [SECONDS]
#
# BUILD_DIR (default build/) must hold bench/plugin_bench and
# plugins/use_lite.so (cmake --build BUILD_DIR --target plugin_bench).
# Fetches the model and the npm packages when missing. Prints texts/s of
# both at their best batch size and the ratio.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
seconds="${2:-10}"
bench="$build/bench/plugin_bench"
plugin="$build/plugins/use_lite.so"
for f in "$bench" "$plugin"; do
  [[ -x "$f" || -f "$f" ]] || { echo "missing $f; build the plugin_bench target first" >&2; exit 1; }
done
model_dir="$("$root/scripts/fetch-use-lite")"
ref="$root/scripts/use_lite_reference"
if [[ ! -d "$ref/node_modules/@tensorflow-models/universal-sentence-encoder" ]]; then
  (cd "$ref" && npm ci --no-audit --no-fund --loglevel=error)
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$bench" --print-corpus >"$tmp/corpus.jsonl"

# TF.js: batch 1 and 8 (larger batches only pad more in the JS backend).
best_js=0
for batch in 1 8; do
  line="$(node "$ref/reference.js" bench "$model_dir" "$tmp/corpus.jsonl" "$seconds" "$batch" 2>/dev/null | tail -n1)"
  rate="$(node -e 'console.log(JSON.parse(process.argv[1]).texts_per_s.toFixed(2))' "$line")"
  echo "tfjs      batch $batch: $rate texts/s"
  best_js="$(node -e 'console.log(Math.max(+process.argv[1], +process.argv[2]))' "$best_js" "$rate")"
done

config="{\"model_dir\":\"$model_dir\"}"
best_cc=0
while read -r line; do
  batch="$(node -e 'console.log(JSON.parse(process.argv[1]).batch)' "$line")"
  rate="$(node -e 'console.log(JSON.parse(process.argv[1]).texts_per_s.toFixed(1))' "$line")"
  echo "use_lite  batch $batch: $rate texts/s"
  best_cc="$(node -e 'console.log(Math.max(+process.argv[1], +process.argv[2]))' "$best_cc" "$rate")"
done < <("$bench" "$plugin" "$config" --json --seconds "$seconds" --batches 1,8,64,256)

node -e '
  const [js, cc] = process.argv.slice(1).map(Number);
  console.log(`best: use_lite ${cc.toFixed(1)} texts/s, tfjs ${js.toFixed(2)} texts/s, ratio ${(cc / js).toFixed(0)}x`);
' "$best_js" "$best_cc"
