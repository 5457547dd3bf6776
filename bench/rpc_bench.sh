#!/usr/bin/env bash
# rpc:call round-trip benchmark: hornbeamd vs a plain BEAM node, one client.
#
#   bench/rpc_bench.sh [DAEMON_BINARY]      (default build/hornbeamd)
#
# Prints a markdown table (1 and 64 concurrent callers, HB_BENCH_SECS seconds
# per cell, default 5) and cleans up every node it started.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
daemon_bin="${1:-$root/build/hornbeamd}"
[[ -x "$daemon_bin" ]] || { echo "no daemon binary at $daemon_bin (build first)" >&2; exit 2; }
daemon_bin="$(cd "$(dirname "$daemon_bin")" && pwd)/$(basename "$daemon_bin")"
secs="${HB_BENCH_SECS:-5}"

# Same node set-up as the integration tests.
# shellcheck source=../tests/integration/run_integration.sh
source "$root/tests/integration/run_integration.sh"

tmp="$(mktemp -d -t hb_bench.XXXXXX)"
trap 'hb_cleanup' EXIT
trap 'exit 130' INT TERM
hb_init "$tmp"

hb_start_epmd
hb_start_daemon "$daemon_bin" "hbbenchgpu_$$"
hb_start_ref "hbbenchref_$$"
erlc -o "$tmp" "$root/bench/rpc_bench.erl"

hb_log "benchmarking ($secs s per cell, 1 s warm-up)"
rc=0
erl -sname "hbbench_$$" -setcookie "$HB_COOKIE" -hidden -noshell -pa "$tmp" \
  -run rpc_bench main "hbbenchgpu_$$@$HB_HOST" "hbbenchref_$$@$HB_HOST" "$secs" \
  </dev/null || rc=$?
if [[ $rc -ne 0 ]]; then
  hb_log "benchmark failed (rc=$rc); last lines of the daemon log:"
  tail -n 30 "$tmp/daemon.log" >&2 || true
fi
exit "$rc"
