#!/usr/bin/env bash
# Builds the .deb with cpack and inspects it: files in FHS paths, computed
# library dependencies, maintainer scripts, the configuration as a conffile.
#   deb_test.sh BUILD_DIR
set -euo pipefail
build="$(cd "$1" && pwd)"
out="$(mktemp -d -t hb_deb.XXXXXX)"
trap 'rm -rf "$out"' EXIT
(cd "$build" && cpack -G DEB -B "$out" >"$out/cpack.log" 2>&1) || { cat "$out/cpack.log"; exit 1; }
deb="$(ls "$out"/hornbeamd_*.deb)"
fail=0
check() { if ! grep -qE "$2" <<<"$1"; then echo "FAIL: expected $3 ($2)"; fail=1; else echo "ok: $3"; fi; }
contents="$(dpkg-deb -c "$deb")"
check "$contents" '\./usr/sbin/hornbeamd$' "daemon in /usr/sbin"
check "$contents" '\./usr/lib/hornbeamd/plugins/hashembed\.so$' "bundled plugin"
check "$contents" '\./usr/lib/hornbeamd/hornbeamd-blas-probe$' "BLAS kernel probe"
check "$contents" '\./usr/lib/hornbeamd/hornbeamd-worker$' "model worker (isolation: process)"
check "$contents" '\./usr/include/hornbeam/plugin\.h$' "plugin header"
check "$contents" '\./usr/lib/systemd/system/hornbeamd\.service$' "systemd unit"
check "$contents" '\./usr/lib/sysusers\.d/hornbeamd\.conf$' "sysusers file"
check "$contents" '\./etc/hornbeam/hornbeamd\.json$' "configuration"
control="$(dpkg-deb -f "$deb")"
check "$control" '^Depends:.*libuv1' "libuv1 dependency"
check "$control" '^Depends:.*libssl3' "OpenSSL dependency"
check "$control" '^Depends:.*libsystemd0' "libsystemd dependency"
check "$control" '^Depends:.*libmicrohttpd' "libmicrohttpd dependency"
check "$control" '^Depends:.*systemd \| adduser' "a way to create the system user (systemd-sysusers or adduser)"
check "$control" '^Recommends:.*erlang-base' "erlang-base recommended (epmd)"
# Built for this Debian release, with its dependencies: the release is in the
# version (and so in the file name) to tell the two packages apart.
debver="$(. /etc/os-release && echo "${VERSION_ID%%.*}")"
check "$control" "^Version: [0-9.]+-1\\+deb$debver\$" "version marks Debian $debver"
check "$(basename "$deb")" "^hornbeamd_[0-9.]+-1\\+deb${debver}_[a-z0-9]+\\.deb\$" "file name marks Debian $debver"
mkdir "$out/ctl"
dpkg-deb -e "$deb" "$out/ctl"
for s in postinst prerm postrm; do
  if [[ -x "$out/ctl/$s" ]] && sh -n "$out/ctl/$s"; then echo "ok: $s present and valid"; else echo "FAIL: $s"; fail=1; fi
done
check "$(cat "$out/ctl/postinst")" 'systemd-sysusers' "postinst creates the system user"
check "$(cat "$out/ctl/conffiles")" '^/etc/hornbeam/hornbeamd\.json$' "config is a conffile"
# The packaged configuration is valid for the packaged daemon's layout.
mkdir "$out/root"
dpkg-deb -x "$deb" "$out/root"
sed "s|/usr/lib/hornbeamd/plugins|$out/root/usr/lib/hornbeamd/plugins|" \
  "$out/root/etc/hornbeam/hornbeamd.json" >"$out/check.json"
# Its cookie file is postinst's (/var/lib/hornbeamd), absent here: a private
# stand-in, given by flag as an operator could.
(umask 077; echo TESTCOOKIE >"$out/cookie")
if "$out/root/usr/sbin/hornbeamd" --check-config --config "$out/check.json" \
    --cookie-file "$out/cookie" >/dev/null; then
  echo "ok: packaged config passes --check-config"
else
  echo "FAIL: packaged config"; fail=1
fi
exit $fail
