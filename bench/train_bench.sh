#!/usr/bin/env bash
# Classifier heads: ml:train/1 time on the topic set of tests/data (375
# texts, 5 topics, 30 epochs) and ml:predict/2 latency and predict_batch/2
# throughput, for hashembed and, when its files are there, use_lite.
#
#   bench/train_bench.sh [DAEMON_BINARY]      (default build/hornbeamd)
#
# use_lite's files: $HB_USE_LITE_DIR, default models/use_lite beside the
# daemon. Prints a markdown table and cleans up every node it started.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
daemon_bin="${1:-$root/build/hornbeamd}"
[[ -x "$daemon_bin" ]] || { echo "no daemon binary at $daemon_bin (build first)" >&2; exit 2; }
daemon_bin="$(cd "$(dirname "$daemon_bin")" && pwd)/$(basename "$daemon_bin")"
plugins="$(dirname "$daemon_bin")/plugins"

# shellcheck source=/dev/null
source "$root/tests/integration/run_integration.sh"
tmp="$(mktemp -d -t hb_train_bench.XXXXXX)"
trap hb_on_exit EXIT
trap 'exit 130' INT TERM
hb_init "$tmp"

models="hashembed"
use_lite_dir="${HB_USE_LITE_DIR:-$(dirname "$daemon_bin")/models/use_lite}"
use_lite=""
if [[ -f "$use_lite_dir/model.json" ]]; then
  use_lite=", \"use_lite\": {\"plugin\": \"use_lite\", \"options\": {\"model_dir\": \"$use_lite_dir\"}}"
  models="hashembed use_lite"
  export HB_DAEMON_START_S=60
fi
cat >"$tmp/config.json" <<JSON
{"plugin_dir": "$plugins", "state_dir": "$tmp",
 "models": {"hashembed": {"plugin": "hashembed"}$use_lite},
 "routes": {}}
JSON
hb_start_epmd
hb_start_daemon "$daemon_bin" "hbtrainbench_$$" --config "$tmp/config.json"
erlc -o "$tmp" "$root/bench/train_bench.erl"
hb_log "benchmarking $models"
erl -sname "hbtrainbenchc_$$" -setcookie "$HB_COOKIE" -hidden -noshell -pa "$tmp" \
  -run train_bench main "hbtrainbench_$$@$HB_HOST" "$root/tests/data" $models </dev/null
