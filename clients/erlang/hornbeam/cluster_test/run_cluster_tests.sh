#!/usr/bin/env bash
# The hornbeam client against real daemons (hb_cluster_tests.erl): three
# hornbeamd nodes serving the test plugin with a fixed execute time, one
# client node.  With --elixir: one daemon and the ExUnit test (exit 77,
# skipped, when elixir is not installed).  --bench runs bench/client_bench.erl.
#
#   run_cluster_tests.sh [--elixir | --bench] DAEMON_BINARY TEST_PLUGIN_DIR BUILD_DIR
#
# BUILD_DIR receives the compiled application (rebar3, offline, no hex).
# Unique node names, a fresh cookie and a private epmd use; everything
# started here is stopped on exit.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
app="$(dirname "$here")"
root="$(cd "$app/../../.." && pwd)"
# shellcheck source=/dev/null
source "$root/tests/integration/run_integration.sh"

mode=cluster
case "${1:-}" in --elixir) mode=elixir; shift ;; --bench) mode=bench; shift ;; esac
if [[ $# -ne 3 ]]; then
  echo "usage: $0 [--elixir | --bench] DAEMON_BINARY TEST_PLUGIN_DIR BUILD_DIR" >&2
  exit 2
fi
daemon_bin="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
plugins="$(cd "$2" && pwd)"
build="$(mkdir -p "$3" && cd "$3" && pwd)"
if [[ $mode == elixir ]] && ! command -v elixir >/dev/null 2>&1; then
  echo "elixir is not installed: skipped" >&2
  exit 77
fi

tmp="$(mktemp -d -t hb_client.XXXXXX)"
daemons=()
cleanup() {
  local rc=$?
  for d in "${daemons[@]}"; do
    if [[ $rc -ne 0 && -f "$d/daemon.log" ]]; then
      hb_log "exit status $rc; last lines of $d/daemon.log:"; tail -n 15 "$d/daemon.log" >&2 || true
    fi
    HB_TMP="$d" hb_stop_daemon
  done
  HB_TMP="$tmp" hb_cleanup
}
trap cleanup EXIT
trap 'exit 130' INT TERM
hb_init "$tmp"
hb_start_epmd

# Build the application offline: rebar3 when there is one, else erlc.
if command -v rebar3 >/dev/null 2>&1; then
  (cd "$app" && REBAR_BASE_DIR="$build" rebar3 compile >"$tmp/build.log" 2>&1) \
    || { cat "$tmp/build.log" >&2; exit 1; }
  ebin="$build/default/lib/hornbeam/ebin"
else
  ebin="$build/ebin"; mkdir -p "$ebin"
  erlc -o "$ebin" "$app"/src/*.erl
  cp "$app/src/hornbeam.app.src" "$ebin/hornbeam.app"
fi

count=3; execute_ms=20; batch=16; queue=256
case $mode in elixir) count=1 ;; bench) execute_ms="${HB_BENCH_EXECUTE_MS:-10}"; batch=1; queue=100000 ;; esac
prefix="hbcl$$x"
for i in $(seq 1 "$count"); do
  d="$tmp/d$i"; mkdir "$d"; cp "$tmp/cookie" "$d/cookie"
  cat >"$d/config.json" <<JSON
{"plugin_dir": "$plugins", "drain_timeout_s": 30,
 "models": {"default": {"plugin": "testplugin_good", "max_batch_size": $batch, "max_queue": $queue,
   "max_queue_delay_us": 500, "instances": ${HB_BENCH_INSTANCES:-1},
   "options": {"execute_ms": $execute_ms, "execute_ms_file": "$d/execute_ms"}}},
 "routes": {"ml": "default"}}
JSON
  HB_TMP="$d" hb_start_daemon "$daemon_bin" "${prefix}$i" --config "$d/config.json"
  daemons+=("$d")
done

export HB_COOKIE HB_HOST HB_NODE_PREFIX="$prefix" HB_DAEMON_DIRS="${daemons[*]}"
export HB_RESTART_CMD="$root/tests/integration/run_integration.sh --restart-daemon"
case $mode in
  cluster)
    erlc -o "$tmp" "$here/hb_cluster_tests.erl"
    timeout 280 erl -sname "hbclc_$$" -setcookie "$HB_COOKIE" -hidden -noshell -pa "$ebin" -pa "$tmp" \
      -eval 'halt(case eunit:test(hb_cluster_tests, [verbose]) of ok -> 0; _ -> 1 end).' </dev/null ;;
  elixir)
    cd "$tmp"
    timeout 200 elixir --sname "hbclex_$$" --cookie "$HB_COOKIE" --hidden -pa "$ebin" \
      "$here/hornbeam_test.exs" </dev/null ;;
  bench)
    erlc -o "$tmp" "$app/bench/client_bench.erl"
    timeout 590 erl -sname "hbclb_$$" -setcookie "$HB_COOKIE" -hidden -noshell -pa "$ebin" -pa "$tmp" \
      -eval 'client_bench:main(), halt(0).' </dev/null ;;
esac
