#!/usr/bin/env bash
# Boots a Debian bookworm container with systemd as PID 1 and runs the
# README's "Operating hornbeamd" commands against the packaged daemon:
# install, --check-config, enable --now, status, reload, metrics scrape,
# an Erlang rpc:call, journal, stop.
#   systemd_boot_test.sh path/to/hornbeamd_*.deb | BUILD_DIR
# (given a build directory it packages it with cpack first).
# Needs root and systemd-nspawn (systemd-container); debootstrap only while
# the cached rootfs ($HB_SYSTEMD_ROOTFS, default
# /var/tmp/hornbeamd-systemd-rootfs) is not built yet. Exit 77 = skipped.
set -euo pipefail

skip() { echo "SKIP: $*"; exit 77; }
[[ $# -eq 1 && -e "$1" ]] || { echo "usage: $0 hornbeamd_VERSION_ARCH.deb | BUILD_DIR" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || skip "needs root (debootstrap, systemd-nspawn)"
command -v systemd-nspawn >/dev/null || skip "systemd-nspawn not found (apt-get install systemd-container)"
command -v nsenter >/dev/null || skip "nsenter not found (util-linux)"
pkgdir=""
if [[ -d "$1" ]]; then
  pkgdir="$(mktemp -d -t hb_sysd_deb.XXXXXX)"
  (cd "$1" && cpack -G DEB -B "$pkgdir" >"$pkgdir/cpack.log" 2>&1) \
    || { cat "$pkgdir/cpack.log"; echo "FAIL: cpack"; exit 1; }
  set -- "$(ls "$pkgdir"/hornbeamd_*.deb)"
fi
deb="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"

cache="${HB_SYSTEMD_ROOTFS:-/var/tmp/hornbeamd-systemd-rootfs}"
base="$cache/bookworm"
mirror="${HB_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
machine="hbsysd"
t0=$SECONDS

# The package's runtime dependencies are included so that the literal
# `apt install ./hornbeamd_*.deb` resolves offline (the container has no
# network) and never prompts; a changed list rebuilds the rootfs.
include="systemd,systemd-sysv,dbus,sudo,curl,erlang-base,libuv1,libmicrohttpd12,libssl3"
include+=",libicu72,libopenblas0,ca-certificates"
# The rootfs is built once and only ever booted --ephemeral, so every run
# starts from a system on which hornbeamd was never installed.
if [[ "$(cat "$base/.hb-complete" 2>/dev/null)" != "$include" ]]; then
  command -v debootstrap >/dev/null || skip "debootstrap not found and no cached rootfs at $base"
  echo "== building rootfs in $base (one-off, a few minutes)"
  # Two tries: a mirror hiccup should not fail the run.
  for try in 1 2; do
    rm -rf "$base" "$base.tmp" && mkdir -p "$cache"
    if debootstrap --variant=minbase --include="$include" \
        bookworm "$base.tmp" "$mirror" >"$cache/debootstrap.log" 2>&1; then
      break
    fi
    tail -20 "$cache/debootstrap.log"
    [[ $try -eq 2 ]] && { echo "FAIL: debootstrap from $mirror"; exit 1; }
    sleep 10
  done
  # minbase has neither nss-myhostname nor a hosts entry for the container's
  # hostname: sudo warns and Erlang short names (gpu@host) cannot resolve.
  echo "127.0.1.1 $machine" >>"$base.tmp/etc/hosts"
  echo "$machine" >"$base.tmp/etc/hostname"
  echo "$include" >"$base.tmp/.hb-complete"
  mv "$base.tmp" "$base"
fi
echo "== rootfs ready after $((SECONDS - t0)) s"

log="$(mktemp -t hb_sysd_nspawn.XXXXXX)"
nspawn_pid=""
teardown() {
  local rc=$?
  if [[ -n "$nspawn_pid" ]] && kill -0 "$nspawn_pid" 2>/dev/null; then
    # SIGTERM makes nspawn ask the container's systemd for a clean halt.
    kill -TERM "$nspawn_pid" 2>/dev/null || true
    for _ in $(seq 150); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$nspawn_pid" 2>/dev/null || true
  fi
  # A killed nspawn leaves its ephemeral copy behind (.#bookworm<random>).
  rm -rf "$cache"/.\#bookworm* 2>/dev/null || true
  [[ $rc -eq 0 ]] || { echo "--- nspawn log"; tail -20 "$log"; }
  rm -f "$log"
  [[ -z "$pkgdir" ]] || rm -rf "$pkgdir"
  echo "== total $((SECONDS - t0)) s"
}
trap teardown EXIT

# Unified cgroup hierarchy, all capabilities and no nspawn seccomp filter:
# that lets the container's systemd attach its BPF device filter, so the
# unit's DevicePolicy=closed/DeviceAllow= are really enforced as on a stock
# bookworm host (with nspawn's defaults on a hybrid-cgroup host they are
# silently not applied). --register=no/--keep-unit: the host need not run
# systemd or machined. --private-network: epmd.socket (4369) and the metrics
# port must not collide with an epmd or test daemon running on the host.
echo "== booting $base (ephemeral)"
SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 SYSTEMD_SECCOMP=0 setsid systemd-nspawn \
  --directory="$base" --ephemeral --boot --machine="$machine" \
  --register=no --keep-unit --capability=all --console=passive --private-network \
  --bind-ro="$deb:/root/$(basename "$deb")" >"$log" 2>&1 </dev/null &
nspawn_pid=$!

leader=""
# A host where nspawn cannot boot a container at all is a limit of that
# host, not of hornbeamd: skip there. Everything after the boot must pass.
for _ in $(seq 300); do
  kill -0 "$nspawn_pid" 2>/dev/null || { tail -20 "$log"; skip "systemd-nspawn cannot boot here"; }
  leader="$(pgrep -P "$nspawn_pid" | head -1 || true)"
  [[ -n "$leader" && "$(readlink "/proc/$leader/exe" 2>/dev/null)" == */systemd ]] && break
  leader=""; sleep 0.2
done
[[ -n "$leader" ]] || skip "no systemd PID 1 in the container after 60 s"

# Runs a shell command as root inside the container, in /root, with a clean
# environment (nsenter would otherwise pass the host's).
in_ct() {
  nsenter -t "$leader" -a env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 TERM=dumb DEBIAN_FRONTEND=noninteractive SYSTEMD_PAGER= \
    bash -c "cd /root && $1"
}
fail=0
check() {  # check TEXT REGEX WHAT
  if grep -qE -- "$2" <<<"$1"; then echo "ok: $3"; else echo "FAIL: $3 (wanted /$2/)"; fail=1; fi
}

# PID 1 exists well before its private bus socket does; until then
# systemctl answers "Failed to connect to bus" and no state.
state=""
for _ in $(seq 120); do
  state="$(in_ct 'systemctl is-system-running --wait 2>/dev/null' || true)"
  [[ -n "$state" ]] && break; sleep 0.5
done
echo "== booted in $((SECONDS - t0)) s total, system $state"
[[ "$state" == running || "$state" == degraded ]] || { echo "FAIL: boot: $state"; exit 1; }

echo "== device filter probe"
# Tells whether the DevicePolicy= results below mean anything in this host.
if in_ct 'systemd-run --wait --quiet -p DevicePolicy=closed sh -c "exec 3<>/dev/net/tun"' 2>/dev/null; then
  echo "warning: DevicePolicy=closed is not enforced in this container"
else
  echo "ok: DevicePolicy=closed is enforced (BPF device filter)"
fi

echo "== sudo apt install ./$(basename "$deb")"
in_ct "sudo apt install ./$(basename "$deb") </dev/null 2>&1 | tail -4"
check "$(in_ct 'dpkg-query -W -f="\${Status}" hornbeamd')" 'install ok installed' "package installed"

# postinst's cookie: 20 random capitals, readable by the daemon's user only.
check "$(in_ct 'f=/var/lib/hornbeamd/.erlang.cookie; echo $(stat -c "%U %a %s" $f) $(tr -dc A-Z <$f | wc -c)')" \
  '^hornbeamd 400 20 20$' "private 20-letter cookie"

echo "== sudoedit /etc/hornbeam/hornbeamd.json (editor adds metrics_port 9464)"
# sudoedit splits SUDO_EDITOR on blanks without a shell, so a blank-free sed
# script can stand in for an interactive editor.
in_ct "SUDO_EDITOR='sed -i s/^{\$/{\"metrics_port\":9464,/' sudoedit /etc/hornbeam/hornbeamd.json"
check "$(in_ct 'cat /etc/hornbeam/hornbeamd.json')" '"metrics_port":9464' "config edited through sudoedit"

echo "== sudo hornbeamd --check-config"
out="$(in_ct 'sudo hornbeamd --check-config')" || { echo "$out"; echo "FAIL: --check-config"; exit 1; }
check "$out" '"metrics_port": 9464' "--check-config accepts the edited config"

echo "== sudo systemctl enable --now epmd.socket hornbeamd"
in_ct 'sudo systemctl enable --now epmd.socket hornbeamd'
check "$(in_ct 'systemctl is-active hornbeamd' || true)" '^active$' "unit active after enable --now"
status="$(in_ct 'systemctl status hornbeamd --no-pager' || true)"
echo "$status" | sed -n '1,8p'
check "$status" "Status: \"serving as 'gpu@$machine'" "STATUS= line says serving"
node="$(grep -oE "serving as '[^']+'" <<<"$status" | head -1 | cut -d"'" -f2)"
in_ct 'pid=$(systemctl show -p MainPID --value hornbeamd); grep "open files" /proc/$pid/limits; grep -E "^Cap(Eff|Bnd)" /proc/$pid/status' || true

# Path-form DeviceAllow= entries are resolved when the unit starts.
in_ct "journalctl -b --no-pager -o cat | grep \"Couldn't stat device\"" || true

echo "== sudo systemctl reload hornbeamd"
pid0="$(in_ct 'systemctl show -p MainPID --value hornbeamd')"
# RELOADING=1/READY=1 are only journaled by systemd at debug level.
in_ct 'systemd-analyze log-level debug'
cursor="$(in_ct 'journalctl -n0 --show-cursor -q | sed -n "s/^-- cursor: //p"')"
in_ct 'sudo systemctl reload hornbeamd'
in_ct 'systemd-analyze log-level info'
rj="$(in_ct "journalctl --no-pager --after-cursor='$cursor' -u hornbeamd" || true)"
grep -E 'notification message|SIGHUP|reload complete|Reloaded' <<<"$rj" || true
check "$rj" 'RELOADING=1' "daemon sent RELOADING=1"
check "$rj" 'READY=1' "daemon sent READY=1 after reload"
check "$rj" 'Reloaded hornbeamd.service' "systemd finished the reload job"
check "$(in_ct 'systemctl is-active hornbeamd' || true)" '^active$' "unit still active after reload"
check "$(in_ct 'systemctl show -p MainPID --value hornbeamd')" "^$pid0\$" "same main PID after reload"

echo "== curl -s 127.0.0.1:9464/metrics | head"
metrics="$(in_ct 'curl -s 127.0.0.1:9464/metrics' || true)"
head <<<"$metrics"
check "$metrics" '^hornbeam_up 1$' "metrics endpoint serves hornbeam_ samples"

echo "== erl client: rpc:call($node, health, check, [])"
health="$(in_ct "erl -sname c -setcookie \"\$(sudo cat /var/lib/hornbeamd/.erlang.cookie)\" -noshell \
  -eval 'io:format(\"~p~n\",[rpc:call(list_to_atom(\"${node%%@*}@\"++net_adm:localhost()), health, check, [], 5000)]), halt().'" || true)"
echo "$health"
check "$health" "node => <<\"$node\">>" "health map from $node"
# The top-level status follows reloads (keys print sorted); a model's own
# status follows queue_depth. Blanks are squeezed: ~p may wrap anywhere.
check "$(tr -s ' \n' ' ' <<<"$health")" 'reloads => [0-9]+, ?status => ok' "health status ok"

echo "== journalctl -u hornbeamd --no-pager | tail -30"
in_ct 'journalctl -u hornbeamd --no-pager | grep -v "(kill)\|Got notification\|systemd\[1\]: hornbeamd.service: " | tail -30'

echo "== systemd-analyze security hornbeamd (summary)"
sec="$(in_ct 'systemd-analyze security hornbeamd --no-pager 2>&1 | tail -1' || true)"
echo "$sec"
# 3.5 with the unit's hardening (5.8 before the Protect*/Restrict* set).
check "$sec" 'exposure level for hornbeamd.service: [0-3]\.[0-9]' "systemd-analyze security below 4.0"

echo "== sudo systemctl stop hornbeamd"
cursor="$(in_ct 'journalctl -n0 --show-cursor -q | sed -n "s/^-- cursor: //p"')"
in_ct 'systemd-analyze log-level debug'
in_ct 'sudo systemctl stop hornbeamd'
in_ct 'systemd-analyze log-level info'
sj="$(in_ct "journalctl --no-pager --after-cursor='$cursor' -u hornbeamd" || true)"
grep -E 'STOPPING=1|SIGTERM|drain|Main process exited|Deactivated|Stopp' <<<"$sj" || true
check "$sj" 'STOPPING=1' "daemon sent STOPPING=1"
show="$(in_ct 'systemctl show hornbeamd -p ActiveState -p Result -p ExecMainStatus')"
check "$show" '^ActiveState=inactive$' "unit inactive after stop"
check "$show" '^Result=success$' "stop result success"
check "$show" '^ExecMainStatus=0$' "daemon exited 0"
check "$sj" 'SIGTERM: draining' "daemon drained on SIGTERM"
check "$(in_ct 'epmd -names' || true)" '^epmd: up' "epmd still up"
if in_ct 'epmd -names' | grep -q "name ${node%%@*} "; then echo "FAIL: node still registered with epmd"; fail=1; else echo "ok: node unregistered from epmd"; fi

[[ $fail -eq 0 ]] && echo "PASS" || echo "FAILED"
exit $fail
