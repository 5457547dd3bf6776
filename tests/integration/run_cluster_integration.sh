#!/usr/bin/env bash
# hornbeamd as a visible cluster node (hb_cluster_tests.erl): a visible
# daemon X with two models, a hidden daemon Y, and BEAM peers started by
# the suite.
#
#   run_cluster_integration.sh [--otp REL] [--roots DIR] [--order first|last] DAEMON_BINARY
#
# --order names X so that it sorts first (default) or last among the nodes
# (global's lockers order nodes by name). --otp runs the BEAM nodes on
# another OTP release (run_integration.sh).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=/dev/null
source "$here/run_integration.sh"

order=first
args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --order) order="${2:?--order needs first or last}"; shift ;;
    *) args+=("$1") ;;
  esac
  shift
done
hb_parse_cell_args "${args[@]}"
if [[ ${#HB_ARGS[@]} -ne 1 || ! -x "${HB_ARGS[0]}" ]]; then
  echo "usage: $0 [--otp REL] [--roots DIR] [--order first|last] DAEMON_BINARY" >&2
  exit 2
fi
daemon_bin="$(cd "$(dirname "${HB_ARGS[0]}")" && pwd)/$(basename "${HB_ARGS[0]}")"

tmp="$(mktemp -d -t hb_cluster.XXXXXX)"
chmod 755 "$tmp"
trap 'hb_stop_pid "$(cat "$tmp/hidden.pid" 2>/dev/null)" 2>/dev/null || true; hb_on_exit' EXIT
trap 'exit 130' INT TERM
hb_init "$tmp"
hb_select_cell "$daemon_bin" || exit

case "$order" in
  first) sname="aaa_hbx_$$" ;;   # before every hbc* peer
  last) sname="zzz_hbx_$$" ;;
  *) echo "--order: first or last" >&2; exit 2 ;;
esac
group_node="hbcgrp_$$@$HB_HOST"
cat >"$tmp/config.json" <<JSON
{"models": {"default": {"plugin": "hashembed"}, "extra": {"plugin": "hashembed"}},
 "routes": {"ml": "default"},
 "global_groups": {"hb_grp": ["$group_node", "$sname@$HB_HOST"]}}
JSON

hb_start_epmd
hb_start_daemon "$daemon_bin" "$sname" --config "$tmp/config.json"
# Y: hidden, the built-in model set.
hidden="hbhidden_$$"
"$daemon_bin" --sname "$hidden" --cookie-file "$tmp/cookie" --hidden \
  </dev/null >>"$tmp/hidden.log" 2>&1 &
echo $! >"$tmp/hidden.pid"
hb_wait 15 hb_registered "$hidden"

hb_erlc "$here/hb_test_lib.erl" "$here/hb_cluster_tests.erl" "$here/hb_cluster_probe.erl" \
  "$here/hb_seed_cluster.erl"
export HB_DAEMON_NODE="$sname@$HB_HOST" HB_HIDDEN_NODE="$hidden@$HB_HOST" HB_COOKIE
export HB_GROUP_NODE="${group_node%@*}" HB_TMP_DIR="$tmp" HB_CONFIG="$tmp/config.json" HB_DAEMON_PIDFILE="$tmp/daemon.pid"
if [[ -n "$HB_OTP_ROOT" ]]; then
  hb_start_restart_relay
else
  HB_RESTART_CMD="'$here/run_integration.sh' --restart-daemon '$tmp'"
fi
export HB_RESTART_CMD

hb_log "running hb_cluster_tests against $HB_DAEMON_NODE (sorts $order) and $HB_HIDDEN_NODE"
timeout 580 "${HB_OTP_RUN[@]}" erl -sname "hbclusterctl_$$" -setcookie "$HB_COOKIE" -hidden \
  -noshell -pa "$tmp" \
  -eval 'halt(case eunit:test(hb_cluster_tests, [verbose]) of ok -> 0; _ -> 1 end).' </dev/null
