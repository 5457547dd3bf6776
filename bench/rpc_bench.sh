#!/usr/bin/env bash
# rpc:call round-trip benchmark: hornbeamd vs a plain BEAM node, one client.
#
#   bench/rpc_bench.sh [--tls] [DAEMON_BINARY]      (default build/hornbeamd)
#
# Prints a markdown table (1 and 64 concurrent callers, HB_BENCH_SECS seconds
# per cell, default 5) and cleans up every node it started. --tls: every node
# speaks TLS distribution with mutual certificates (made by
# tests/integration/make_test_certs.sh): the daemon with a "tls" config, the
# reference and client BEAM nodes with -proto_dist inet_tls (via ERL_FLAGS).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tls=0
if [[ "${1:-}" == --tls ]]; then tls=1; shift; fi
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
daemon_args=()
if ((tls)); then
  d="$tmp/tls"
  "$root/tests/integration/make_test_certs.sh" "$d" "$HB_HOST"
  printf '{"tls": {"certfile": "%s", "keyfile": "%s", "cacertfile": "%s"}}\n' \
    "$d/server.pem" "$d/server.key" "$d/ca.pem" >"$tmp/tls.json"
  opts="{certfile, \"$d/client.pem\"}, {keyfile, \"$d/client.key\"}, {cacertfile, \"$d/ca.pem\"}, {verify, verify_peer}"
  printf '[{server, [%s, {fail_if_no_peer_cert, true}]}, {client, [%s]}].\n' "$opts" "$opts" \
    >"$tmp/ssl_dist.conf"
  export ERL_FLAGS="-proto_dist inet_tls -ssl_dist_optfile $tmp/ssl_dist.conf"
  daemon_args=(--config "$tmp/tls.json")
  echo "TLS distribution (OTP default version for clients: TLS 1.2)"
fi
hb_start_daemon "$daemon_bin" "hbbenchgpu_$$" "${daemon_args[@]}"
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
