#!/usr/bin/env bash
# Process isolation through a real hornbeamd: models whose instances run in
# hornbeamd-worker children, crashed on purpose by the test plugin, driven by
# hb_isolation_tests.erl from a real Erlang node.
#
#   run_isolation_integration.sh DAEMON_BINARY TEST_PLUGIN_DIR
#
# The daemon finds hornbeamd-worker beside itself (the build directory).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=/dev/null
source "$here/run_integration.sh"

hb_parse_cell_args "$@"
if [[ ${#HB_ARGS[@]} -ne 2 ]]; then
  echo "usage: $0 DAEMON_BINARY TEST_PLUGIN_DIR" >&2
  exit 2
fi
set -- "${HB_ARGS[@]}"
daemon_bin="$1"
tmp="$(mktemp -d -t hb_iso.XXXXXX)"
trap hb_on_exit EXIT
trap 'exit 130' INT TERM
hb_init "$tmp"
hb_select_cell "$daemon_bin" || exit

cat >"$tmp/config.json" <<JSON
{
  "plugin_dir": "$2",
  "models": {
    "healthy": {"plugin": "testplugin_good", "isolation": "process", "instances": 2},
    "crashy": {"plugin": "testplugin_good", "isolation": "process", "instances": 2,
               "max_restarts": 1000, "restart_backoff_ms": 5, "stuck_after_ms": 5000},
    "fragile": {"plugin": "testplugin_good", "isolation": "process", "max_restarts": 1,
                "restart_backoff_ms": 5}
  },
  "routes": {"healthy": "healthy", "crashy": "crashy", "fragile": "fragile"}
}
JSON

sname="hbiso_$$"
hb_start_epmd
hb_start_daemon "$daemon_bin" "$sname" --config "$tmp/config.json"

hb_erlc "$here/hb_test_lib.erl" "$here/hb_isolation_tests.erl"
export HB_DAEMON_NODE="$sname@$HB_HOST"
timeout 280 "${HB_OTP_RUN[@]}" erl -sname "hbisoclient_$$" -setcookie "$HB_COOKIE" -hidden -noshell -pa "$tmp" \
  -eval 'halt(case eunit:test([hb_isolation_tests], [verbose]) of ok -> 0; _ -> 1 end).' </dev/null
