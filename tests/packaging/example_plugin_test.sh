#!/usr/bin/env bash
# The plugin author's path: install hornbeamd to a prefix, build the minimal
# example plugin out of tree against the installed header, load it in the
# installed daemon and call it from erl.
#   example_plugin_test.sh BUILD_DIR
set -euo pipefail
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="$(cd "$1" && pwd)"
tmp="$(mktemp -d -t hb_example.XXXXXX)"
pid=""
cleanup() { [[ -n "$pid" ]] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null 2>"$tmp/install.log" || { cat "$tmp/install.log"; exit 1; }
cmake -S "$src/plugins/examples/minimal" -B "$tmp/ex" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/ex" >/dev/null
cp "$tmp/ex/minimal.so" "$tmp/prefix/lib/hornbeamd/plugins/"
cookie="$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
name="hbexample_$$"
cat >"$tmp/config.json" <<JSON
{"models": {"tiny": {"plugin": "minimal"}}, "routes": {"tiny": "tiny"}}
JSON
epmd -daemon 2>/dev/null || true
"$tmp/prefix/sbin/hornbeamd" --sname "$name" --cookie "$cookie" --config "$tmp/config.json" \
  >"$tmp/daemon.log" 2>&1 </dev/null &
pid=$!
for _ in $(seq 100); do epmd -names | grep -q "name $name " && break; sleep 0.1; done
out="$(erl -sname "hbexcli_$$" -setcookie "$cookie" -hidden -noshell -eval \
  "io:format(\"~p\", [rpc:call('$name@$(hostname -s)', tiny, encode, [<<\"hello big world\">>])]), halt().")"
echo "tiny:encode -> $out"
if [[ "$out" != "[15.0,2.0]" ]]; then cat "$tmp/daemon.log"; exit 1; fi
grep -q "minimal plugin initialised" "$tmp/daemon.log"
echo "ok: example plugin built out of tree and served"
