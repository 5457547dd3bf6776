#!/usr/bin/env bash
# The admission door (hb_admission_tests.erl): a daemon with small in-flight
# limits, driven by a real Erlang node and two peers; the last test drains
# it with SIGTERM.
#
#   run_admission_integration.sh DAEMON_BINARY
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=/dev/null
source "$here/run_integration.sh"

if [[ $# -ne 1 || ! -x "$1" ]]; then
  echo "usage: $0 DAEMON_BINARY" >&2
  exit 2
fi
tmp="$(mktemp -d -t hb_admission.XXXXXX)"
trap hb_on_exit EXIT
trap 'exit 130' INT TERM
hb_init "$tmp"
cat >"$tmp/config.json" <<JSON
{"limits": {"max_inflight_per_peer": 2, "max_inflight_total": 4}, "drain_timeout_s": 60}
JSON

sname="hbadm_$$"
hb_start_epmd
hb_start_daemon "$1" "$sname" --config "$tmp/config.json"
erlc -o "$tmp" "$here/hb_test_lib.erl" "$here/hb_admission_tests.erl"
export HB_DAEMON_NODE="$sname@$HB_HOST" HB_COOKIE
export HB_DAEMON_PID="$(cat "$tmp/daemon.pid")"
timeout 280 erl -sname "hbadmclient_$$" -setcookie "$HB_COOKIE" -hidden -noshell -pa "$tmp" \
  -eval 'halt(case eunit:test(hb_admission_tests, [verbose]) of ok -> 0; _ -> 1 end).' </dev/null
