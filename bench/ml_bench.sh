#!/usr/bin/env bash
# Model path benchmark: the in-process ceiling (plugin_bench at batch 256)
# against the same model through the daemon from an Erlang client.
#
#   bench/ml_bench.sh [BUILD_DIR] [PLUGIN] [OPTIONS_JSON]
#     defaults: build hashembed '{}'   (use_lite: ... use_lite '{"model_dir":"build/models/use_lite"}')
# HB_BENCH_SECS seconds per cell (default 5); HB_BENCH_INSTANCES instances of
# the model in the daemon (default 1). The daemon chooses OpenBLAS kernels
# and threads itself (README "BLAS kernels and threads").
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
plugin="${2:-hashembed}"
options="${3:-{\}}"
secs="${HB_BENCH_SECS:-5}"
instances="${HB_BENCH_INSTANCES:-1}"
# shellcheck source=/dev/null
source "$root/tests/integration/run_integration.sh"
tmp="$(mktemp -d -t hb_mlbench.XXXXXX)"
trap hb_on_exit EXIT
trap 'exit 130' INT TERM
hb_init "$tmp"

ceiling="$("$build/bench/plugin_bench" "$build/plugins/$plugin.so" "$options" --batches 256 \
  --seconds "$secs" --json | python3 -c 'import json,sys; print(json.loads(sys.stdin.readlines()[-1])["texts_per_s"])')"
cat >"$tmp/config.json" <<JSON
{"plugin_dir": "$build/plugins",
 "models": {"m": {"plugin": "$plugin", "options": $options, "max_batch_size": 256, "instances": $instances,
                  "max_queue_delay_us": 2000, "max_queue": 100000}},
 "routes": {"ml": "m"}}
JSON
sname="hbmlbench_$$"
hb_start_epmd
HB_DAEMON_START_S=60 hb_start_daemon "$build/hornbeamd" "$sname" --config "$tmp/config.json"
erlc -o "$tmp" "$root/bench/ml_bench.erl"
rows="$(erl -sname "hbmlbc_$$" -setcookie "$HB_COOKIE" -hidden -noshell -pa "$tmp" \
  -run ml_bench main "$sname@$HB_HOST" ml "$secs" </dev/null)"
echo "plugin: $plugin $options, $instances instance(s), $(nproc) CPUs, $secs s per cell"
grep -h "blas:" "$HB_TMP"/*.log 2>/dev/null | head -1 || true
echo
echo "| path | texts/s | fraction |"
echo "| --- | --- | --- |"
printf '| in-process execute, batch 256 (ceiling) | %.1f | 1.00 |\n' "$ceiling"
batch=""
while IFS= read -r row; do
  v="$(awk -F'|' '{gsub(/ /,"",$3); print $3}' <<<"$row")"
  [[ -z "$batch" ]] && batch="$v"
  name="$(awk -F'|' '{print $2}' <<<"$row")"
  printf '|%s| %s | %.2f of ceiling, %.2f of batch |\n' "$name" "$v" \
    "$(echo "$v / $ceiling" | bc -l)" "$(echo "$v / $batch" | bc -l)"
done <<<"$rows"
