#!/usr/bin/env bash
# Erlang-side integration tests for hornbeamd.
#
#   run_integration.sh DAEMON_BINARY           run the EUnit suite (exit 0 = pass)
#   run_integration.sh --restart-daemon DIR    restart the daemon of a running suite
#                                              (the tests call this via HB_RESTART_CMD)
#
# Sourcing this file only defines the hb_* helpers (bench/rpc_bench.sh uses
# them to start the same set of nodes).
#
# Everything runs under unique node names with a fresh random cookie in a temp
# dir, so it can run next to a developer's own nodes; everything started here
# is killed on exit.
set -euo pipefail

HB_INTEGRATION_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
HB_HOST="$(hostname -s)"

hb_log() { echo "[$(date +%T)] $*" >&2; }

# hb_init DIR: use DIR for cookie, logs, pids and compiled modules.
hb_init() {
  HB_TMP="$1"
  HB_COOKIE="$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  printf '%s' "$HB_COOKIE" >"$HB_TMP/cookie"
  chmod 400 "$HB_TMP/cookie"   # erl refuses cookie files others can read
  HB_STARTED_EPMD=0
}

hb_start_epmd() {
  if ! epmd -names >/dev/null 2>&1; then
    epmd -daemon
    HB_STARTED_EPMD=1
    hb_wait 5 epmd -names
  fi
}

# hb_wait SECONDS CMD...: retry CMD every 0.1 s until it succeeds.
hb_wait() {
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

hb_registered() { epmd -names 2>/dev/null | grep -q "^name $1 at port "; }
hb_unregistered() { ! hb_registered "$1"; }

# hb_start_daemon BINARY SNAME [ARGS...]: start it in the background (with
# the cookie file and ARGS, e.g. --config FILE) and wait for epmd, at most
# HB_DAEMON_START_S seconds (default 15; model loading can need more). The
# settings are saved so --restart-daemon can start an identical one.
hb_start_daemon() {
  {
    printf 'HB_DAEMON_BIN=%q\nHB_DAEMON_SNAME=%q\n' "$1" "$2"
    shift 2
    printf 'HB_DAEMON_ARGS=('
    (($# == 0)) || printf '%q ' "$@"
    printf ')\n'
  } >"$HB_TMP/daemon.env"
  hb_launch_daemon
}

hb_launch_daemon() {
  # shellcheck source=/dev/null
  source "$HB_TMP/daemon.env"
  # No stdin/stdout inherited: os:cmd (the restart path) waits for them to close.
  "$HB_DAEMON_BIN" --sname "$HB_DAEMON_SNAME" --cookie-file "$HB_TMP/cookie" \
    ${HB_LOG_LEVEL:+--log-level "$HB_LOG_LEVEL"} "${HB_DAEMON_ARGS[@]}" \
    </dev/null >>"$HB_TMP/daemon.log" 2>&1 &
  local limit="${HB_DAEMON_START_S:-15}"
  local pid=$! deadline=$((SECONDS + limit))
  echo "$pid" >"$HB_TMP/daemon.pid"
  until hb_registered "$HB_DAEMON_SNAME"; do
    if hb_gone "$pid"; then
      hb_log "daemon exited before registering with epmd"
      return 1
    elif ((SECONDS >= deadline)); then
      hb_log "daemon $HB_DAEMON_SNAME did not register with epmd within $limit s"
      return 1
    fi
    sleep 0.1
  done
}

hb_stop_daemon() {
  local pid
  pid="$(cat "$HB_TMP/daemon.pid" 2>/dev/null)" || return 0
  hb_stop_pid "$pid"
  rm -f "$HB_TMP/daemon.pid"
}

# hb_stop_pid PID: SIGTERM, then SIGKILL if it is still there after 5 s.
hb_stop_pid() {
  kill -TERM "$1" 2>/dev/null || return 0
  hb_wait 5 hb_gone "$1" || kill -KILL "$1" 2>/dev/null || true
  hb_wait 2 hb_gone "$1" || true
}
# A killed child of another shell may linger as a zombie until reaped: count
# that as gone too.
hb_gone() {
  local stat
  stat="$(ps -o stat= -p "$1" 2>/dev/null)" || return 0
  [[ "$stat" == Z* ]]
}

# hb_start_ref SNAME: a plain BEAM node serving health.erl.
hb_start_ref() {
  erlc -o "$HB_TMP" "$HB_INTEGRATION_DIR/health.erl"
  erl -sname "$1" -setcookie "$HB_COOKIE" -noshell -noinput -pa "$HB_TMP" \
    </dev/null >>"$HB_TMP/ref.log" 2>&1 &
  echo $! >"$HB_TMP/ref.pid"
  if ! hb_wait 15 hb_registered "$1"; then
    hb_log "reference node $1 did not register with epmd within 15 s"
    return 1
  fi
}

# EXIT trap: on failure show what the daemon said, then clean up.
hb_on_exit() {
  local rc=$?
  if [[ $rc -ne 0 && -f "${HB_TMP:-}/daemon.log" ]]; then
    hb_log "exit status $rc; last lines of the daemon log:"
    tail -n 60 "$HB_TMP/daemon.log" >&2 || true
  fi
  hb_cleanup
}

hb_cleanup() {
  [[ -n "${HB_TMP:-}" && -d "$HB_TMP" ]] || return 0
  hb_stop_daemon
  if [[ -f "$HB_TMP/ref.pid" ]]; then hb_stop_pid "$(cat "$HB_TMP/ref.pid")"; fi
  # Only if we started it; epmd refuses -kill while any node is registered.
  if [[ "${HB_STARTED_EPMD:-0}" == 1 ]]; then epmd -kill >/dev/null 2>&1 || true; fi
  rm -rf "$HB_TMP"
}

# Sourced: helpers only.
[[ "${BASH_SOURCE[0]}" == "$0" ]] || return 0

if [[ "${1:-}" == --restart-daemon ]]; then
  HB_TMP="$2"
  # shellcheck source=/dev/null
  source "$HB_TMP/daemon.env"
  hb_stop_daemon
  hb_wait 10 hb_unregistered "$HB_DAEMON_SNAME"
  hb_launch_daemon
  echo restarted
  exit 0
fi

if [[ $# -ne 1 || ! -x "$1" ]]; then
  echo "usage: $0 DAEMON_BINARY" >&2
  exit 2
fi
daemon_bin="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"

tmp="$(mktemp -d -t hb_integration.XXXXXX)"
trap hb_on_exit EXIT
trap 'exit 130' INT TERM
hb_init "$tmp"

daemon_sname="hbgpu_$$"
ref_sname="hbref_$$"
hb_start_epmd
hb_log "starting $daemon_bin as $daemon_sname"
hb_start_daemon "$daemon_bin" "$daemon_sname"
hb_start_ref "$ref_sname"
erlc -o "$tmp" "$HB_INTEGRATION_DIR/hb_test_lib.erl" "$HB_INTEGRATION_DIR/hb_rpc_tests.erl"

export HB_DAEMON_NODE="$daemon_sname@$HB_HOST"
export HB_REF_NODE="$ref_sname@$HB_HOST"
export HB_COOKIE
export HB_RESTART_CMD="'$HB_INTEGRATION_DIR/run_integration.sh' --restart-daemon '$tmp'"

hb_log "running hb_rpc_tests against $HB_DAEMON_NODE (reference $HB_REF_NODE)"
# Last command: its status (1 = a test failed) is the script's.
timeout 280 erl -sname "hbclient_$$" -setcookie "$HB_COOKIE" -hidden -noshell -pa "$tmp" \
  -eval 'halt(case eunit:test(hb_rpc_tests, [verbose]) of ok -> 0; _ -> 1 end).' \
  </dev/null
