#!/usr/bin/env bash
# Builds, tests and packages hornbeamd inside a container of another Debian
# release, then boots a container of that release with the package installed:
#
#   debian_release_test.sh RELEASE WORK_DIR      e.g. trixie build
#
# 1. a Debian RELEASE root (scripts/debian-root), kept as WORK_DIR/debian-roots/RELEASE-build;
# 2. in it, under systemd-nspawn with the host's network: scripts/install-deps
#    build (the release's own package names; a no-op once done);
# 3. in it, with a private network (its own epmd): configure with warnings as
#    errors and without the CUDA plugin, build (-j HB_JOBS, default nproc), run
#    the unit, use_lite, Erlang integration and .deb tests, cpack;
# 4. tests/packaging/systemd_boot_test.sh --release RELEASE on that .deb.
# The build tree is kept in WORK_DIR/debian-RELEASE (a rerun is incremental)
# and the package copied to WORK_DIR. The source is bind-mounted read-only;
# the use_lite model, when WORK_DIR/models/use_lite has it, too (else the
# use_lite tests are left out and said so).
# Needs root and systemd-nspawn. Exit status: 0 passed, 77 skipped (no root,
# no nspawn, RELEASE cannot be fetched), else failed.
set -euo pipefail

skip() { echo "SKIP: $*"; exit 77; }
say() { echo "== [$(date +%T) +$((SECONDS - t0))s] $*"; }
t0=$SECONDS
[[ $# -eq 2 && -d "$2" ]] || { echo "usage: $0 RELEASE WORK_DIR" >&2; exit 2; }
release="$1"
work="$(cd "$2" && pwd)"
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
[[ $(id -u) -eq 0 ]] || skip "needs root (debootstrap, systemd-nspawn)"
command -v systemd-nspawn >/dev/null || skip "systemd-nspawn not found (scripts/install-deps containers)"

root="$work/debian-roots/$release-build"
tree="$work/debian-$release"
machine="hb$release"
jobs="${HB_JOBS:-$(nproc)}"
mkdir -p "$tree"

say "root $root"
rc=0
"$src/scripts/debian-root" "$release" "$root" >/dev/null || rc=$?
[[ $rc -eq 77 ]] && skip "no $release root"
[[ $rc -eq 0 ]] || { echo "FAIL: debian-root $release ($rc)"; exit 1; }
# Erlang short names need the container's host name to resolve.
grep -qw "$machine" "$root/etc/hosts" || echo "127.0.1.1 $machine" >>"$root/etc/hosts"

model_bind=() tests='^(unit|use_lite|integration|packaging/deb)/?'
if [[ -f "$work/models/use_lite/model.json" ]]; then
  model_bind=(--bind-ro="$work/models/use_lite:/models/use_lite")
else
  echo "note: no $work/models/use_lite: use_lite tests left out"
  tests='^(unit|integration|packaging/deb)/?'
fi

# in_ct NETWORK SCRIPT [NSPAWN_OPTION...]: runs SCRIPT with bash in the
# container, the source at /src (read-only) and the build tree at /build;
# NETWORK is "host" (apt) or "private" (builds and tests: an epmd and
# daemons of their own).
in_ct() {
  local net=() script="$2"
  [[ "$1" == private ]] && net=(--private-network)
  shift 2
  # --register=no/--keep-unit: the host need not run systemd or machined.
  # --as-pid2: a stub init reaps the daemons and nodes the tests leave.
  systemd-nspawn --quiet --directory="$root" --machine="$machine" --register=no --keep-unit \
    --as-pid2 --pipe "${net[@]}" --bind-ro="$src:/src" --bind="$tree:/build" "${model_bind[@]}" \
    --setenv=HB_USE_LITE_DIR=/models/use_lite --setenv=LANG=C.UTF-8 \
    --setenv=DEBIAN_FRONTEND=noninteractive --chdir=/src "$@" \
    /bin/bash -c "set -euo pipefail; $script" </dev/null
}

say "scripts/install-deps build (log: $tree/install-deps.log)"
# Packages go to the suite's cache beside the roots, where debootstrap of the
# boot root (same suite) finds those it needs too.
debs="$work/debian-roots/debs-$release"
mkdir -p "$debs"
in_ct host "scripts/install-deps build" --bind="$debs:/var/cache/apt/archives" \
  >"$tree/install-deps.log" 2>&1 || { tail -30 "$tree/install-deps.log"; echo "FAIL: install-deps"; exit 1; }
# shellcheck disable=SC2016  # expanded in the container
in_ct private 'echo "$(. /etc/os-release && echo "$PRETTY_NAME"): $(gcc --version | head -1), \
OTP $(cat /usr/lib/erlang/releases/*/OTP_VERSION), Catch2 $(dpkg-query -W -f="\${Version}" catch2)"'

say "build (-j$jobs, warnings are errors)"
# A warning new to this release's gcc fails here, as it would go unseen in
# the log of a passing build.
in_ct private "cmake -S /src -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHB_WITH_CUDA=OFF \
    -DCMAKE_COMPILE_WARNING_AS_ERROR=ON >/build/configure.log 2>&1 \
  || { cat /build/configure.log; exit 1; }
  cmake --build /build -j$jobs >/build/build.log 2>&1 \
  || { grep -B2 -A8 -E 'error|warning' /build/build.log | head -80; exit 1; }"

say "ctest -R '$tests'"
in_ct private "ctest --test-dir /build --output-on-failure -j1 -R '$tests' -LE otp_peer"

say "cpack"
rm -f "$tree"/hornbeamd_*.deb
in_ct private "cd /build && cpack -G DEB >/build/cpack.log 2>&1 || { cat /build/cpack.log; exit 1; }"
deb="$(ls "$tree"/hornbeamd_*.deb)"
cp "$deb" "$work/"
deb="$work/$(basename "$deb")"
echo "$(basename "$deb"): $(dpkg-deb -f "$deb" Depends)"

say "boot $release with the package"
rc=0
"$src/tests/packaging/systemd_boot_test.sh" --release "$release" --roots "$work/debian-roots" "$deb" || rc=$?
say "done (rc $rc)"
exit $rc
