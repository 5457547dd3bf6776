#!/usr/bin/env bash
# Erlang-side integration tests for hornbeamd.
#
#   run_integration.sh [--otp REL] [--roots DIR] [--tls] DAEMON_BINARY
#                         run the EUnit suite (exit 0 = pass, 77 = skipped)
#   run_integration.sh --restart-daemon DIR    restart the daemon of a running suite
#                                              (the tests call this via HB_RESTART_CMD)
#
# --otp REL runs the client and reference nodes on OTP release REL (25, 27,
# 29) against the daemon on this host: the host's own erl when it is that
# release, else the erl of a Debian root that ships it (25 bookworm, 27
# trixie, 29 sid), made once under DIR (default: otp-roots beside the
# daemon binary, HB_OTP_ROOTS if set) by scripts/debian-root and run under
# chroot by in_otp_root.sh. A release that cannot be fetched is skipped
# (77), never passed; so is one whose suite no longer ships it.
#
# --tls runs the same suite over TLS distribution: certificates from
# make_test_certs.sh, the daemon with a "tls" config (verify_peer,
# node_name_check), every BEAM node (reference, client, peers) with
# -proto_dist inet_tls through ERL_FLAGS; HB_TLS_VERSIONS (e.g. "'tlsv1.3'")
# sets the clients' versions, else OTP's default (TLS 1.2 on OTP 25).
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

# hb_start_ref SNAME: a plain BEAM node serving health.erl (of the selected
# OTP release: the reference must be the same release as the clients).
hb_start_ref() {
  hb_erlc "$HB_INTEGRATION_DIR/health.erl"
  "${HB_OTP_RUN[@]}" erl -sname "$1" -setcookie "$HB_COOKIE" -noshell -noinput -pa "$HB_TMP" \
    </dev/null >>"$HB_TMP/ref.log" 2>&1 &
  echo $! >"$HB_TMP/ref.pid"
  if ! hb_wait 15 hb_registered "$1"; then
    hb_log "reference node $1 did not register with epmd within 15 s"
    return 1
  fi
}

# hb_erlc SOURCE: compiles SOURCE into HB_TMP with the selected release's
# erlc. A root sees only HB_TMP of the host, so the source goes there first.
hb_erlc() {
  mkdir -p "$HB_TMP/src"
  local f srcs=()
  for f in "$@"; do
    cp "$f" "$HB_TMP/src/"
    srcs+=("$HB_TMP/src/$(basename "$f")")
  done
  "${HB_OTP_RUN[@]}" erlc -o "$HB_TMP" "${srcs[@]}"
}

# Debian suite that ships each OTP release the cells use.
hb_otp_suite() {
  case "$1" in
    25) echo bookworm ;;
    27) echo trixie ;;
    29) echo sid ;;
    *) return 1 ;;
  esac
}

hb_otp_release() { "$@" erl -noshell -eval 'io:format("~s", [erlang:system_info(otp_release)]), halt().'; }

# hb_otp_select REL ROOTS: every erl and erlc of the suite runs as
# "${HB_OTP_RUN[@]}" erl ...: the host's when it is REL, else that of the
# Debian root in ROOTS (made on first use). Needs HB_TMP. Returns 77 when REL
# cannot be had here.
HB_OTP_RUN=()
HB_OTP_ROOT=""
hb_otp_select() {
  local want="$1" roots="$2" suite got rc=0
  HB_OTP_RUN=() HB_OTP_ROOT=""
  got="$(hb_otp_release)"
  if [[ "$got" == "$want" ]]; then
    hb_log "OTP $want: the host's erl"
    return 0
  fi
  suite="$(hb_otp_suite "$want")" || { hb_log "no Debian suite known for OTP $want"; return 2; }
  HB_OTP_ROOT="$roots/$suite"
  "$HB_INTEGRATION_DIR/../../scripts/debian-root" "$suite" "$HB_OTP_ROOT" \
    erlang-base,erlang-dev,erlang-eunit >/dev/null || rc=$?
  if [[ $rc -ne 0 ]]; then
    hb_log "OTP $want: no $suite root ($rc)"
    return "$rc"
  fi
  HB_OTP_RUN=("$HB_INTEGRATION_DIR/in_otp_root.sh" "$HB_OTP_ROOT" "$HB_TMP")
  got="$(hb_otp_release "${HB_OTP_RUN[@]}")"
  if [[ "$got" != "$want" ]]; then
    # The suite moved on (sid will): this cell cannot be had from it any more.
    hb_log "OTP $want: $suite now ships OTP $got; update hb_otp_suite"
    return 77
  fi
  hb_log "OTP $want: erl of $HB_OTP_ROOT ($(cat "$HB_OTP_ROOT/usr/lib/erlang/releases/$want/OTP_VERSION"))"
}

# A client in a root cannot run this script to restart the daemon (nor the
# daemon binary): HB_RESTART_CMD then asks this loop, on the host, through
# files in the shared directory.
hb_start_restart_relay() {
  cat >"$HB_TMP/restart.sh" <<SH
#!/bin/sh
rm -f '$HB_TMP/restart.done'; : >'$HB_TMP/restart.req'
while [ ! -e '$HB_TMP/restart.done' ]; do sleep 0.1; done
cat '$HB_TMP/restart.out'
SH
  chmod +x "$HB_TMP/restart.sh"
  (
    while :; do
      if [[ -e "$HB_TMP/restart.req" ]]; then
        rm -f "$HB_TMP/restart.req"
        "$HB_INTEGRATION_DIR/run_integration.sh" --restart-daemon "$HB_TMP" >"$HB_TMP/restart.out" 2>&1 \
          || echo "restart failed" >>"$HB_TMP/restart.out"
        : >"$HB_TMP/restart.done"
      fi
      sleep 0.1
    done
  ) </dev/null >/dev/null 2>&1 &
  echo $! >"$HB_TMP/relay.pid"
  HB_RESTART_CMD="'$HB_TMP/restart.sh'"
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
  if [[ -f "$HB_TMP/relay.pid" ]]; then kill "$(cat "$HB_TMP/relay.pid")" 2>/dev/null || true; fi
  hb_stop_daemon
  if [[ -f "$HB_TMP/ref.pid" ]]; then hb_stop_pid "$(cat "$HB_TMP/ref.pid")"; fi
  # Only if we started it; epmd refuses -kill while any node is registered.
  if [[ "${HB_STARTED_EPMD:-0}" == 1 ]]; then epmd -kill >/dev/null 2>&1 || true; fi
  # HB_KEEP_TMP=1 keeps logs and modules for a post-mortem.
  if [[ -n "${HB_KEEP_TMP:-}" ]]; then hb_log "kept $HB_TMP"; return 0; fi
  rm -rf "$HB_TMP"
}

# hb_parse_cell_args ARGS...: --otp REL and --roots DIR, then the rest in
# HB_ARGS (shared with run_ml_integration.sh).
hb_parse_cell_args() {
  HB_CELL_OTP="" HB_CELL_ROOTS="${HB_OTP_ROOTS:-}" HB_CELL_TLS=0 HB_ARGS=()
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --tls) HB_CELL_TLS=1 ;;
      --otp) HB_CELL_OTP="${2:?--otp needs a release}"; shift ;;
      --roots) HB_CELL_ROOTS="${2:?--roots needs a directory}"; shift ;;
      *) HB_ARGS+=("$1") ;;
    esac
    shift
  done
}

# hb_select_cell DAEMON_BINARY: the OTP release of --otp, if any (after hb_init).
hb_select_cell() {
  [[ -n "$HB_CELL_OTP" ]] || return 0
  hb_otp_select "$HB_CELL_OTP" "${HB_CELL_ROOTS:-$(dirname "$1")/otp-roots}"
}

# hb_tls_setup: certificates, the daemon's TLS config (HB_TLS_ARGS) and
# ERL_FLAGS making every erl started from here on a TLS node (after hb_init).
hb_tls_setup() {
  local d="$HB_TMP/tls"
  if ! erl -noshell -eval 'halt(case code:which(inet_tls_dist) of non_existing -> 1; _ -> 0 end).'; then
    echo "SKIP: this erl has no ssl application (erlang-ssl)" >&2
    exit 77
  fi
  "$HB_INTEGRATION_DIR/make_test_certs.sh" "$d" "$HB_HOST"
  printf '{"tls": {"certfile": "%s", "keyfile": "%s", "cacertfile": "%s", "node_name_check": true}}\n' \
    "$d/server.pem" "$d/server.key" "$d/ca.pem" >"$HB_TMP/tls.json"
  local o="{certfile, \"$d/client.pem\"}, {keyfile, \"$d/client.key\"}, {cacertfile, \"$d/ca.pem\"}, {verify, verify_peer}"
  local v="${HB_TLS_VERSIONS:+, {versions, [$HB_TLS_VERSIONS]\}}"
  printf '[{server, [%s, {fail_if_no_peer_cert, true}%s]}, {client, [%s%s]}].\n' "$o" "$v" "$o" "$v" \
    >"$HB_TMP/ssl_dist.conf"
  export ERL_FLAGS="-proto_dist inet_tls -ssl_dist_optfile $HB_TMP/ssl_dist.conf"
  HB_TLS_ARGS=(--config "$HB_TMP/tls.json")
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

hb_parse_cell_args "$@"
if [[ ${#HB_ARGS[@]} -ne 1 || ! -x "${HB_ARGS[0]}" ]]; then
  echo "usage: $0 [--otp REL] [--roots DIR] DAEMON_BINARY" >&2
  exit 2
fi
daemon_bin="$(cd "$(dirname "${HB_ARGS[0]}")" && pwd)/$(basename "${HB_ARGS[0]}")"

tmp="$(mktemp -d -t hb_integration.XXXXXX)"
trap hb_on_exit EXIT
trap 'exit 130' INT TERM
hb_init "$tmp"
hb_select_cell "$daemon_bin" || exit
HB_TLS_ARGS=()
if ((HB_CELL_TLS)); then
  [[ -z "$HB_OTP_ROOT" ]] || { echo "--tls runs with the host's erl only" >&2; exit 2; }
  hb_tls_setup
fi

daemon_sname="hbgpu_$$"
ref_sname="hbref_$$"
hb_start_epmd
hb_log "starting $daemon_bin as $daemon_sname"
hb_start_daemon "$daemon_bin" "$daemon_sname" "${HB_TLS_ARGS[@]}"
hb_start_ref "$ref_sname"
hb_erlc "$HB_INTEGRATION_DIR/hb_test_lib.erl" "$HB_INTEGRATION_DIR/hb_rpc_tests.erl"

export HB_DAEMON_NODE="$daemon_sname@$HB_HOST"
export HB_REF_NODE="$ref_sname@$HB_HOST"
export HB_COOKIE
export HB_DAEMON_PIDFILE="$tmp/daemon.pid"
if [[ -n "$HB_OTP_ROOT" ]]; then
  hb_start_restart_relay
else
  HB_RESTART_CMD="'$HB_INTEGRATION_DIR/run_integration.sh' --restart-daemon '$tmp'"
fi
export HB_RESTART_CMD

hb_log "running hb_rpc_tests against $HB_DAEMON_NODE (reference $HB_REF_NODE)"
# Last command: its status (1 = a test failed) is the script's.
timeout 280 "${HB_OTP_RUN[@]}" erl -sname "hbclient_$$" -setcookie "$HB_COOKIE" -hidden -noshell \
  -pa "$tmp" -eval 'halt(case eunit:test(hb_rpc_tests, [verbose]) of ok -> 0; _ -> 1 end).' \
  </dev/null
