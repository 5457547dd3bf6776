#!/usr/bin/env bash
# ctest gpu/kit: the GPU proof kit tested up to the GPU step, on a machine
# without a GPU (CI):
#   1. scripts/gpu-kit builds a kit from BUILD_DIR's binaries (--no-build,
#      xz -1: faster, and never smaller than the real kit's -6);
#   2. the kit plus the tracked tree stays under the 64 MiB that travel;
#   3. scripts/gpu-check stops at once with status 3 and says there is no
#      GPU (status 2 for a missing or damaged kit);
#   4. the kit's own programs run from the kit's libraries: gpu_check with
#      the CPU plugin as its candidate (every check but the device ones),
#      and hornbeamd end to end through the kit's erl.
# Exit 77 (skipped) when BUILD_DIR has no use_lite_cuda.so or gpu_check.
#
#   kit_test.sh BUILD_DIR
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=bench/gpu_check/kit_env.sh
source "$root/bench/gpu_check/kit_env.sh"
build="$(realpath "$1")"
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

for f in plugins/use_lite_cuda.so bench/gpu_check hornbeamd; do
  if [[ ! -f "$build/$f" ]]; then
    echo "SKIPPED: $build/$f not built (the kit needs nvcc for use_lite_cuda)"
    exit 77
  fi
done
model="${HB_USE_LITE_DIR:-$build/models/use_lite}"
[[ -f "$model/model.json" ]] ||
  fail "USE Lite model files not found in $model: run scripts/fetch-use-lite $model"
kit="$build/gpu-kit-test"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

step "1. scripts/gpu-kit --no-build (xz -1)"
HB_GPU_KIT_XZ_LEVEL=1 "$root/scripts/gpu-kit" --no-build --build-dir "$build" --out "$kit" \
  --model-dir "$model" >/dev/null

step "2. size"
kit_bytes="$(du -sb "$kit" | cut -f1)"
tree_bytes="$(cd "$root" && git ls-files -z | xargs -0 stat -c %s 2>/dev/null | awk '{s += $1} END {print s + 0}')"
limit=$((64 * 1024 * 1024))
echo "kit $kit_bytes + tracked tree $tree_bytes = $((kit_bytes + tree_bytes)) bytes (limit $limit)"
((kit_bytes + tree_bytes < limit)) || fail "the kit and the tree are over the 64 MiB that travel"

step "3. scripts/gpu-check without a GPU"
if nvidia-smi -L 2>/dev/null | grep -q '^GPU [0-9]'; then
  echo "a GPU is here: the no-GPU path is not tested on this machine"
else
  start=$SECONDS rc=0
  out="$(timeout 60 "$root/scripts/gpu-check" --kit "$kit" 2>&1)" || rc=$?
  echo "$out"
  ((rc == 3)) || fail "gpu-check exited with $rc without a GPU (expected 3)"
  grep -q 'no NVIDIA GPU' <<<"$out" || fail "gpu-check did not say there is no GPU"
  ((SECONDS - start < 15)) || fail "gpu-check took $((SECONDS - start)) s to stop"
  rc=0
  timeout 60 "$root/scripts/gpu-check" --kit "$tmp/no-kit" 2>&1 || rc=$?
  ((rc == 2)) || fail "gpu-check exited with $rc for a missing kit (expected 2)"
  # A damaged copy: links to the real files, one archive cut short.
  mkdir -p "$tmp/damaged/models"
  ln -s "$kit"/{MANIFEST,lib.tar.xz,erlang.tar.xz} "$tmp/damaged/"
  ln -s "$kit/models/use_lite" "$tmp/damaged/models/"
  head -c 1000 "$kit/bin.tar.xz" >"$tmp/damaged/bin.tar.xz"
  rc=0
  timeout 60 "$root/scripts/gpu-check" --kit "$tmp/damaged" 2>&1 || rc=$?
  ((rc == 2)) || fail "gpu-check exited with $rc for a damaged kit (expected 2)"
fi

step "4. the kit's programs from the kit's libraries (CPU plugin as candidate)"
work="$tmp/work"
mkdir "$work"
echo "unpacked with $(kit_unpack "$kit" "$work")"
kit_lib_path "$work"
echo "LD_LIBRARY_PATH=$KIT_LD_PATH ($KIT_COMPAT)"
rows="$tmp/rows.tsv"
rc=0
LD_LIBRARY_PATH="$KIT_LD_PATH" timeout 300 "$work/bin/gpu_check" \
  --reference "$work/plugins/use_lite.so" --candidate "$work/plugins/use_lite.so" --device -1 \
  --model-dir "$kit/models/use_lite" --fixture "$root/tests/plugins/fixtures/use_lite_reference.json" \
  --texts 40 --seconds 0.2 --batches 1,300 --instances 2 --nvidia-smi none \
  --rows-out "$rows" || rc=$?
((rc == 0)) || fail "the kit's gpu_check exited with $rc"
"$root/bench/gpu_check/e2e.sh" "$work" "$KIT_LD_PATH" "$kit/models/use_lite" use_lite -1 none \
  "$rows" "$tmp" || { tail -n 20 "$tmp"/*.log; fail "the kit's daemon end to end failed"; }
cat "$rows"
grep -q $'^hornbeamd: ml:batch_encode.*\tPASS$' "$rows" || fail "no passing end-to-end row"
passed="$(awk -F'\t' '$4 == "PASS"' "$rows" | wc -l)"
failed="$(awk -F'\t' '$4 == "FAIL"' "$rows" | wc -l)"
((failed == 0 && passed >= 15)) || fail "$passed rows passed, $failed failed"
echo "PASS: kit $((kit_bytes / 1024 / 1024)) MiB; $passed rows passed without a GPU (no GPU row among them)"
