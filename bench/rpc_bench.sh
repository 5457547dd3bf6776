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
# shellcheck source=/dev/null
source "$root/tests/integration/run_integration.sh"

tmp="$(mktemp -d -t hb_bench.XXXXXX)"
trap hb_on_exit EXIT
trap 'exit 130' INT TERM
hb_init "$tmp"

hb_start_epmd
hb_start_daemon "$daemon_bin" "hbbenchgpu_$$"
hb_start_ref "hbbenchref_$$"
erlc -o "$tmp" "$root/bench/rpc_bench.erl"

# Numbers from a Debug or sanitizer build say little; make that visible.
cache="$(dirname "$daemon_bin")/CMakeCache.txt"
build_type="$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$cache" 2>/dev/null || true)"
sanitize="$(sed -n 's/^HB_SANITIZE:[A-Z]*=//p' "$cache" 2>/dev/null || true)"
# (An empty cached type means CMakeLists.txt's default, RelWithDebInfo.)
echo "daemon: $daemon_bin (build type ${build_type:-default}, sanitizers ${sanitize:-none})"
[[ "$build_type" != Debug ]] || hb_log "WARNING: Debug build, numbers are not representative"
[[ -z "$sanitize" ]] || hb_log "WARNING: sanitizer build, numbers are not representative"

hb_log "benchmarking ($secs s per cell, 1 s warm-up)"
erl -sname "hbbench_$$" -setcookie "$HB_COOKIE" -hidden -noshell -pa "$tmp" \
  -run rpc_bench main "hbbenchgpu_$$@$HB_HOST" "hbbenchref_$$@$HB_HOST" "$secs" \
  </dev/null
