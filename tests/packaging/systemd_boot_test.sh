#!/usr/bin/env bash
# Boots a Debian container (by default of the host's release) with systemd
# as PID 1 and runs the README's "Operating hornbeamd" commands against the
# packaged daemon: install, --check-config, enable --now, status, reload,
# metrics scrape, an Erlang rpc:call, journal, stop.
#   systemd_boot_test.sh [--release SUITE] [--roots DIR] path/to/hornbeamd_*.deb | BUILD_DIR
# (given a build directory it packages it with cpack first). The package
# must be one built for SUITE (tests/packaging/debian_release_test.sh makes
# Debian 13's inside a trixie container).
# Needs root and systemd-nspawn (systemd-container); debootstrap only while
# the cached root (DIR/SUITE-boot; DIR defaults to BUILD_DIR/debian-roots, or
# $HB_DEBIAN_ROOTS, or /var/tmp/hornbeamd-debian-roots) is not made yet.
# Exit 77 = skipped.
set -euo pipefail

skip() { echo "SKIP: $*"; exit 77; }
usage() { echo "usage: $0 [--release SUITE] [--roots DIR] hornbeamd_VERSION_ARCH.deb | BUILD_DIR" >&2; exit 2; }
release="$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")" roots="${HB_DEBIAN_ROOTS:-}"
while [[ $# -gt 1 ]]; do
  case "$1" in
    --release) release="${2:?}"; shift 2 ;;
    --roots) roots="${2:?}"; shift 2 ;;
    *) usage ;;
  esac
done
[[ $# -eq 1 && -e "$1" ]] || usage
[[ $(id -u) -eq 0 ]] || skip "needs root (debootstrap, systemd-nspawn)"
command -v systemd-nspawn >/dev/null || skip "systemd-nspawn not found (apt-get install systemd-container)"
command -v nsenter >/dev/null || skip "nsenter not found (util-linux)"
pkgdir=""
if [[ -d "$1" ]]; then
  roots="${roots:-$(cd "$1" && pwd)/debian-roots}"
  pkgdir="$(mktemp -d -t hb_sysd_deb.XXXXXX)"
  (cd "$1" && cpack -G DEB -B "$pkgdir" >"$pkgdir/cpack.log" 2>&1) \
    || { cat "$pkgdir/cpack.log"; echo "FAIL: cpack"; exit 1; }
  set -- "$(ls "$pkgdir"/hornbeamd_*.deb)"
fi
deb="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
roots="${roots:-/var/tmp/hornbeamd-debian-roots}"
mkdir -p "$roots" && roots="$(cd "$roots" && pwd)"
base="$roots/$release-boot"
machine="hbsysd"
t0=$SECONDS

# Package names of the .deb's dependencies (first alternative, no version).
deb_depends() {
  dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed -E 's/\|.*//; s/\(.*\)//; s/ //g' | grep . | sort -u
}
# The package's runtime dependencies (those of its own release, as computed
# when it was built) are included so that the literal `apt install
# ./hornbeamd_*.deb` resolves offline (the container has no network) and
# never prompts; a changed list makes a new root.
include="systemd,systemd-sysv,dbus,sudo,curl,erlang-base,ca-certificates"
include+=",$(deb_depends | paste -sd,)"
echo "== root $base ($release)"
rc=0
"$(dirname "${BASH_SOURCE[0]}")/../../scripts/debian-root" "$release" "$base" "$include" >/dev/null || rc=$?
[[ $rc -eq 77 ]] && skip "no $release root"
[[ $rc -eq 0 ]] || { echo "FAIL: debian-root $release ($rc)"; exit 1; }
# minbase has neither nss-myhostname nor a hosts entry for the container's
# hostname: sudo warns and Erlang short names (gpu@host) cannot resolve.
# The root is only ever booted --ephemeral, so every run starts from a
# system on which hornbeamd was never installed.
grep -qw "$machine" "$base/etc/hosts" || echo "127.0.1.1 $machine" >>"$base/etc/hosts"
echo "$machine" >"$base/etc/hostname"
echo "== root ready after $((SECONDS - t0)) s"

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
  # A killed nspawn leaves its ephemeral copy behind (.#SUITE-boot<random>).
  rm -rf "$roots"/.\#"$release"-boot* 2>/dev/null || true
  [[ $rc -eq 0 ]] || { echo "--- nspawn log"; tail -20 "$log"; }
  rm -f "$log"
  [[ -z "$pkgdir" ]] || rm -rf "$pkgdir"
  echo "== total $((SECONDS - t0)) s"
}
trap teardown EXIT

# Unified cgroup hierarchy, all capabilities and no nspawn seccomp filter:
# that lets the container's systemd attach its BPF device filter, so the
# unit's DevicePolicy=closed/DeviceAllow= are really enforced as on a stock
# Debian host (with nspawn's defaults on a hybrid-cgroup host they are
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
# Degraded is a unit of the minimal root failing in a container, not ours
# (hornbeamd is not installed yet): say which.
[[ "$state" != degraded ]] || in_ct 'systemctl --failed --no-legend --no-pager' || true

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
  -eval 'H = rpc:call(list_to_atom(\"${node%%@*}@\"++net_adm:localhost()), health, check, [], 5000), \
  io:format(\"~p~nstatus: ~p~n\", [H, maps:get(status, H)]), halt().'" || true)"
echo "$health"
check "$health" "node => <<\"$node\">>" "health map from $node"
# The top-level status, printed on its own line: a model has a status key
# too, and OTP 26+ prints map keys in no fixed order.
check "$health" '^status: ok$' "health status ok"

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
