#!/usr/bin/env bash
# TLS distribution (hb_tls_tests.erl): makes a CA and client certificates
# (make_test_certs.sh), starts the daemon serving TLS with verify_peer and
# fail_if_no_peer_cert, and drives it with `erl -proto_dist inet_tls`
# peers, one ssl_dist_optfile per kind of client.
#
#   run_tls_integration.sh DAEMON_BINARY
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=/dev/null
source "$here/run_integration.sh"

if [[ $# -ne 1 || ! -x "$1" ]]; then
  echo "usage: $0 DAEMON_BINARY" >&2
  exit 2
fi
if ! erl -noshell -eval 'halt(case code:which(inet_tls_dist) of non_existing -> 1; _ -> 0 end).'; then
  echo "SKIP: this erl has no ssl application (erlang-ssl)" >&2
  exit 77
fi
tmp="$(mktemp -d -t hb_tls.XXXXXX)"
trap hb_on_exit EXIT
trap 'exit 130' INT TERM
hb_init "$tmp"
tls="$tmp/tls"
"$here/make_test_certs.sh" "$tls" "$HB_HOST"

# daemon_config CERT NODE_NAME_CHECK
daemon_config() {
  cat <<JSON
{"handshake_timeout_ms": 8000,
 "tls": {"certfile": "$tls/$1.pem", "keyfile": "$tls/$1.key", "cacertfile": "$tls/ca.pem",
         "node_name_check": $2}}
JSON
}
daemon_config server false >"$tls/daemon.json"
daemon_config server2 true >"$tls/reload.json"

# optfile NAME CERT [VERSIONS]: the client side is what these peers use.
optfile() {
  local id="" versions=""
  [[ -z "$2" ]] || id="{certfile, \"$tls/$2.pem\"}, {keyfile, \"$tls/$2.key\"}, "
  [[ -z "${3:-}" ]] || versions=", {versions, [$3]}"
  cat >"$tls/$1.conf" <<ERL
[{server, [{certfile, "$tls/client.pem"}, {keyfile, "$tls/client.key"},
           {cacertfile, "$tls/ca.pem"}, {verify, verify_peer}, {fail_if_no_peer_cert, true}]},
 {client, [${id}{cacertfile, "$tls/ca.pem"}, {verify, verify_peer}$versions]}].
ERL
}
optfile client client
optfile tls13 client "'tlsv1.3'"
optfile nocert ""
optfile otherca otherca
optfile expired expired
optfile wrongname wrongname

sname="hbtls_$$"
hb_start_epmd
hb_start_daemon "$1" "$sname" --config "$tls/daemon.json"
erlc -o "$tmp" "$here/hb_test_lib.erl" "$here/hb_tls_tests.erl"
export HB_DAEMON_NODE="$sname@$HB_HOST" HB_COOKIE HB_TLS_DIR="$tls"
export HB_DAEMON_LOG="$tmp/daemon.log" HB_RELOAD_CONFIG="$tls/reload.json"
HB_DAEMON_PID="$(cat "$tmp/daemon.pid")"
export HB_DAEMON_PID
timeout 280 erl -sname "hbtlsclient_$$" -setcookie "$HB_COOKIE" -hidden -noshell -pa "$tmp" \
  -eval 'halt(case eunit:test(hb_tls_tests, [verbose]) of ok -> 0; _ -> 1 end).' </dev/null
