#!/usr/bin/env bash
# Runs a command of another Debian root (made by scripts/debian-root), e.g.
# that release's erl, against this host's epmd and daemon:
#
#   in_otp_root.sh ROOT SHARED_DIR CMD [ARGS...]
#
# chroot rather than a container: the command must share the host's network
# (epmd on 127.0.0.1:4369, the daemon's listener) and process IDs (the tests
# SIGTERM the daemon and kill -9 their own peer nodes). The mounts it needs
# are made in a private mount namespace of this process alone, so they go
# away with it however it ends: nothing is left mounted on the host or in
# the cached root. The process keeps its PID through every step (unshare,
# chroot and env exec), so callers can signal the erl they started.
#
# SHARED_DIR (cookie, compiled test modules, logs) appears at the same path
# inside and is HOME there; the host's /etc/hosts plus a line for this host's
# name (short node names must resolve) is the root's. Of the environment only
# HB_* variables are passed in.
set -euo pipefail

if [[ $# -lt 3 ]]; then
  echo "usage: $0 ROOT SHARED_DIR CMD [ARGS...]" >&2
  exit 2
fi
root="$1" shared="$2"
shift 2

if [[ "${HB_IN_OTP_NS:-}" != "$$" ]]; then
  # unshare without --fork execs: this same process, now in its own mount
  # namespace, runs this script again.
  HB_IN_OTP_NS=$$ exec unshare --mount --propagation private -- "$0" "$root" "$shared" "$@"
fi
unset HB_IN_OTP_NS

hosts="$shared/.hosts"
[[ -f "$hosts" ]] || { cat /etc/hosts; echo "127.0.1.1 $(hostname) $(hostname -s)"; } >"$hosts"

mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
# A private /tmp: minbase leaves it empty, and SHARED_DIR is usually under it.
mount -t tmpfs tmpfs "$root/tmp"
mkdir -p "$root$shared"
mount --bind "$shared" "$root$shared"
mount --bind "$hosts" "$root/etc/hosts"

envs=()
while IFS= read -r name; do envs+=("$name=${!name}"); done < <(compgen -e | grep '^HB_' || true)
exec chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$shared" \
  LANG=C.UTF-8 "${envs[@]}" "$@"
