#!/usr/bin/env bash
# Serving benchmark (issue #11): lone-call latency through the daemon against
# health:ping and a BEAM stand-in, 256 concurrent single callers, one big
# batch against the in-process ceiling, and the result cache's speed-up.
#
#   bench/serving_bench.sh [BUILD_DIR] [PLUGIN] [OPTIONS_JSON] [BIG_TEXTS]
#     defaults: build hashembed '{}' 200000
# HB_BENCH_SECS seconds per cell (default 5).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
plugin="${2:-hashembed}"
options="${3:-{\}}"
big="${4:-200000}"
secs="${HB_BENCH_SECS:-5}"
# shellcheck source=/dev/null
source "$root/tests/integration/run_integration.sh"
tmp="$(mktemp -d -t hb_servebench.XXXXXX)"
trap hb_on_exit EXIT
trap 'exit 130' INT TERM
hb_init "$tmp"

ceiling() {  # texts/s in-process at batch $1
  "$build/bench/plugin_bench" "$build/plugins/$plugin.so" "$options" --batches "$1" \
    --seconds "$secs" --json | python3 -c 'import json,sys; print(json.loads(sys.stdin.readlines()[-1])["texts_per_s"])'
}
one="$(ceiling 1)"
full="$(ceiling 256)"
model='"plugin": "'"$plugin"'", "options": '"$options"', "max_batch_size": 256, "max_queue": 100000'
# Two models of one plugin (ml and the cached mlc) would halve the OpenBLAS
# threads of each by the thread rule; only one runs at a time here, so each
# gets every core, as plugin_bench's ceiling does.
cat >"$tmp/config.json" <<JSON
{"plugin_dir": "$build/plugins", "blas": {"threads": $(nproc)},
 "models": {"m": {$model}, "mc": {$model, "cache_bytes": 268435456}},
 "routes": {"ml": "m", "mlc": "mc"}}
JSON
sname="hbservebench_$$"
hb_start_epmd
HB_DAEMON_START_S=60 hb_start_daemon "$build/hornbeamd" "$sname" --config "$tmp/config.json"
cp "$root/bench/serving_standin.erl" "$tmp/"
erlc -o "$tmp" "$root/bench/serving_standin.erl" "$root/bench/serving_bench.erl"
erl -sname "hbserveref_$$" -setcookie "$HB_COOKIE" -noshell -noinput -pa "$tmp" \
  </dev/null >>"$tmp/ref.log" 2>&1 &
echo $! >"$tmp/ref.pid"
hb_wait 15 hb_registered "hbserveref_$$"
echo "plugin: $plugin $options, $(nproc) CPUs, $secs s per cell"
printf 'in-process: %.0f texts/s at batch 1 (%.1f µs a text), %.0f texts/s at batch 256\n\n' \
  "$one" "$(echo "1000000 / $one" | bc -l)" "$full"
erl -sname "hbservebc_$$" -setcookie "$HB_COOKIE" -hidden -noshell -pa "$tmp" \
  -run serving_bench main "$sname@$HB_HOST" "hbserveref_$$@$HB_HOST" "$secs" "$big" </dev/null
