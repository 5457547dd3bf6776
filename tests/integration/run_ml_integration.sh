#!/usr/bin/env bash
# Model-path integration tests: a real hornbeamd with bundled and test
# plugins, driven by hb_ml_tests.erl from a real Erlang node.
#
#   run_ml_integration.sh [--otp REL] [--roots DIR] DAEMON_BINARY PLUGIN_DIR TEST_PLUGIN_DIR
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
daemon_bin="$1"
tmp="$(mktemp -d -t hb_ml.XXXXXX)"
trap hb_on_exit EXIT
trap 'exit 130' INT TERM
hb_init "$tmp"
hb_select_cell "$daemon_bin" || exit

# A private plugin directory: the hot-reload test replaces files in it.
mkdir "$tmp/plugins"
cp "$2/hashembed.so" "$3/testplugin_good.so" "$3/testplugin_bad_major.so" "$tmp/plugins/"
cat >"$tmp/config.json" <<JSON
{
  "plugin_dir": "$tmp/plugins",
  "models": {
    "default": {"plugin": "hashembed", "max_batch_size": 256, "max_queue_delay_us": 2000,
                "max_queue": 100000},
    "flaky": {"plugin": "testplugin_good", "instances": 2},
    "tiny": {"plugin": "testplugin_good", "max_queue": 2, "max_queue_delay_us": 1000},
    "broken": {"plugin": "testplugin_bad_major"},
    "cached": {"plugin": "hashembed", "max_batch_size": 256, "cache_bytes": 1048576},
    "short": {"plugin": "testplugin_good", "options": {"max_tokens": 3}},
    "capped": {"plugin": "hashembed", "max_request_texts": 10}
  },
  "routes": {"ml": "default", "embedding_service": "default", "flaky": "flaky",
             "tiny": "tiny", "broken": "broken", "cached": "cached", "short": "short",
             "capped": "capped"}
}
JSON

sname="hbml_$$"
hb_start_epmd
hb_start_daemon "$daemon_bin" "$sname" --config "$tmp/config.json"

hb_erlc "$here/hb_test_lib.erl" "$here/hb_ml_tests.erl" "$here/hb_serving_tests.erl"
export HB_DAEMON_NODE="$sname@$HB_HOST" HB_PLUGIN_DIR="$tmp/plugins"
export HB_DAEMON_PID="$(cat "$tmp/daemon.pid")" HB_DAEMON_LOG="$tmp/daemon.log"
timeout 280 "${HB_OTP_RUN[@]}" erl -sname "hbmlclient_$$" -setcookie "$HB_COOKIE" -hidden -noshell -pa "$tmp" \
  -eval 'halt(case eunit:test([hb_ml_tests, hb_serving_tests], [verbose]) of ok -> 0; _ -> 1 end).' </dev/null
