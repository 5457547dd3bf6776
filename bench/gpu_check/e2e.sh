#!/usr/bin/env bash
# The end-to-end part of scripts/gpu-check: the kit's hornbeamd serving
# model "default" (CANDIDATE on DEVICE) routed from ml and model "cpu"
# (use_lite on the CPU) routed from ml_cpu, called by the kit's own erl
# through gpu_e2e.erl. Everything runs from the unpacked kit with a
# private epmd port, long node names on 127.0.0.1 (no host name lookup)
# and a random cookie; all of it is stopped on exit.
#
#   e2e.sh WORK LD_PATH MODEL_DIR CANDIDATE DEVICE EXPECT ROWS LOG_DIR
#     WORK       the unpacked kit (kit_unpack)
#     LD_PATH    LD_LIBRARY_PATH for the kit's programs (KIT_LD_PATH + CUDA's)
#     CANDIDATE  plugin stem: use_lite_cuda on the GPU, use_lite in the self-test
#     DEVICE     its device: 0, or -1 in the self-test
#     EXPECT     cuda | none: what health:check must list
#     ROWS       TSV file the rows are appended to
# Exit status: 0 when every row passed.
set -euo pipefail
if [[ $# -ne 8 ]]; then
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
fi
work="$1" ld_path="$2" model="$3" candidate="$4" device="$5" expect="$6" rows="$7" logs="$8"
check="hornbeamd end to end"

tmp="$(mktemp -d)"
erts_bin="$(echo "$work"/erlang/erts-*/bin)"
daemon_pid=""
export ERL_EPMD_PORT=$((20000 + RANDOM % 20000))
export HOME="$tmp"  # erl reads and may write files there
cleanup() {
  if [[ -n "$daemon_pid" ]] && kill -TERM "$daemon_pid" 2>/dev/null; then
    for _ in $(seq 50); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$daemon_pid" 2>/dev/null || true
  fi
  LD_LIBRARY_PATH="$ld_path" "$erts_bin/epmd" -port "$ERL_EPMD_PORT" -kill >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
fail_row() { printf '%s\t\t%s\tFAIL\n' "$check" "$1" >>"$rows"; exit 1; }

LD_LIBRARY_PATH="$ld_path" "$erts_bin/epmd" -daemon -port "$ERL_EPMD_PORT" ||
  fail_row "the kit's epmd did not start"
for _ in $(seq 50); do
  LD_LIBRARY_PATH="$ld_path" "$erts_bin/epmd" -port "$ERL_EPMD_PORT" -names >/dev/null 2>&1 && break
  sleep 0.1
done

cookie="$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
node="hbgpu$$@127.0.0.1"
cat >"$tmp/config.json" <<JSON
{
  "plugin_dir": "$work/plugins",
  "models": {
    "default": {"plugin": "$candidate", "options": {"model_dir": "$model"},
                "devices": [$device], "max_batch_size": 256},
    "cpu": {"plugin": "use_lite", "options": {"model_dir": "$model"},
            "devices": [-1], "max_batch_size": 256}
  },
  "routes": {"ml": "default", "ml_cpu": "cpu"}
}
JSON
LD_LIBRARY_PATH="$ld_path" "$work/bin/hornbeamd" --name "$node" --cookie "$cookie" \
  --config "$tmp/config.json" </dev/null >"$logs/hornbeamd.log" 2>&1 &
daemon_pid=$!

before="$(wc -l <"$rows" 2>/dev/null || echo 0)"
rc=0
LD_LIBRARY_PATH="$ld_path" timeout 120 "$work/erlang/bin/erl" -name "hbcheck$$@127.0.0.1" \
  -setcookie "$cookie" -hidden -noshell -pa "$work/ebin" \
  -run gpu_e2e main "$node" "$rows" "$expect" </dev/null >"$logs/erl.log" 2>&1 || rc=$?
if [[ "$(wc -l <"$rows" 2>/dev/null || echo 0)" == "$before" ]]; then
  why="erl exited with $rc and wrote no row"
  kill -0 "$daemon_pid" 2>/dev/null || why+="; hornbeamd had exited"
  fail_row "$why: $(tail -n 3 "$logs/erl.log" "$logs/hornbeamd.log" | tr '\n\t' '  ' | cut -c1-400)"
fi
exit "$rc"
