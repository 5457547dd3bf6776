#!/usr/bin/env bash
# Jobs and training integration tests: a real hornbeamd with a state
# directory and a small job queue, driven by hb_train_tests.erl (classifier
# heads on the topic set of tests/data) and hb_jobs_tests.erl (submit,
# progress, cancel, a caller that goes away, a full queue, a daemon restart
# during and after jobs) from a real Erlang node. use_lite joins when its
# model files are there ($HB_USE_LITE_DIR, default models/use_lite beside
# the daemon); without them its head test says it is skipped.
#
#   run_jobs_integration.sh [--otp REL] [--roots DIR] DAEMON_BINARY PLUGIN_DIR TEST_PLUGIN_DIR
#
# --otp and --roots pick the client's OTP release as in run_integration.sh
# (exit 77 = skipped).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=/dev/null
source "$here/run_integration.sh"

hb_parse_cell_args "$@"
if [[ ${#HB_ARGS[@]} -ne 3 ]]; then
  echo "usage: $0 [--otp REL] [--roots DIR] DAEMON_BINARY PLUGIN_DIR TEST_PLUGIN_DIR" >&2
  exit 2
fi
set -- "${HB_ARGS[@]}"
daemon_bin="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
tmp="$(mktemp -d -t hb_jobs.XXXXXX)"
trap hb_on_exit EXIT
trap 'exit 130' INT TERM
hb_init "$tmp"
hb_select_cell "$daemon_bin" || exit

# One job runs at a time and three may wait: the queue-full test fills it.
# `steps` and `steps_v12` run the test plugin's steps/0 (20 x 50 ms), from a
# plugin that reports progress (ABI 1.3) and from one that claims 1.2.
mkdir "$tmp/state" "$tmp/plugins"
cp "$2/hashembed.so" "$3/testplugin_good.so" "$3/testplugin_v12.so" "$tmp/plugins/"
use_lite_dir="${HB_USE_LITE_DIR:-$(dirname "$daemon_bin")/models/use_lite}"
use_lite_model=""
if [[ -f "$use_lite_dir/model.json" && -f "$2/use_lite.so" ]]; then
  cp "$2/use_lite.so" "$tmp/plugins/"
  use_lite_model=",\"use_lite\": {\"plugin\": \"use_lite\", \"options\": {\"model_dir\": \"$use_lite_dir\"}}"
  export HB_USE_LITE=1 HB_DAEMON_START_S=60
fi
cat >"$tmp/config.json" <<JSON
{
  "plugin_dir": "$tmp/plugins",
  "state_dir": "$tmp/state",
  "jobs": {"max_queued": 3, "max_running": 1},
  "models": {"default": {"plugin": "hashembed"},
             "steps": {"plugin": "testplugin_good"},
             "steps_v12": {"plugin": "testplugin_v12"}$use_lite_model},
  "routes": {"ml": "default", "steps": "steps", "steps_v12": "steps_v12"},
  "classifier_routes": {"ml_model": "topics_hash"}
}
JSON

sname="hbjobs_$$"
hb_start_epmd
hb_start_daemon "$daemon_bin" "$sname" --config "$tmp/config.json"

hb_erlc "$here/hb_test_lib.erl" "$here/hb_train_tests.erl" "$here/hb_jobs_tests.erl"
export HB_DAEMON_NODE="$sname@$HB_HOST" HB_COOKIE HB_DAEMON_LOG="$tmp/daemon.log"
export HB_DATA_DIR="$(cd "$here/../data" && pwd)"
if [[ -n "$HB_OTP_ROOT" ]]; then
  hb_start_restart_relay
else
  HB_RESTART_CMD="'$HB_INTEGRATION_DIR/run_integration.sh' --restart-daemon '$tmp'"
fi
export HB_RESTART_CMD
timeout 280 "${HB_OTP_RUN[@]}" erl -sname "hbjobsclient_$$" -setcookie "$HB_COOKIE" -hidden -noshell -pa "$tmp" \
  -eval 'halt(case eunit:test([hb_train_tests, hb_jobs_tests], [verbose]) of ok -> 0; _ -> 1 end).' </dev/null
