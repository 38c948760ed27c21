#!/usr/bin/env bash
# Builds the base root file system of the test hosts (test/hosts/harness.ts):
# Debian bookworm with a real systemd, Nix (nix-bin + nix-daemon), git and a
# lingering `deploy` user in nix-users, packed as a zstd tarball.
#
# usage: build-rootfs.sh MIRROR OUT.tar.zst PACKAGE...
# MIRROR is read by the harness from this machine's apt sources at run time.
# The harness keys its cache by a hash of this file and the package list, so
# any change here rebuilds the tarball.
set -euo pipefail
mirror="$1" out="$2"
shift 2
[ $# -gt 0 ] || { echo "build-rootfs: no packages" >&2; exit 2; }
include=$(IFS=,; echo "$*")
work="$(mktemp -d "$(dirname "$out")/build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"

debootstrap --variant=minbase --include="$include" bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -n 40 "$work/debootstrap.log" >&2
  echo "build-rootfs: debootstrap from $mirror failed (log above)" >&2
  exit 1
}
# Unconfigured packages (e.g. nix-bin without libdbi-perl) would leave a host
# without nix; fail here rather than in a test.
if chroot "$root" dpkg --audit | grep -q .; then
  chroot "$root" dpkg --audit >&2
  echo "build-rootfs: some packages are not configured" >&2
  exit 1
fi

# Neutral: every booted host gets its own machine id and host key.
: >"$root/etc/machine-id"
rm -f "$root"/etc/ssh/ssh_host_* "$root/var/lib/dbus/machine-id"
ln -sf /dev/null "$root/etc/systemd/system/console-getty.service"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
# The machine's node is bound to /usr/local/bin/node at boot.
mkdir -p "$root/usr/local/bin" "$root/opt/flotilla"

# The deploy user of the legacy path, lingering (what `loginctl
# enable-linger deploy` writes), allowed to use nix-daemon.
chroot "$root" useradd -m -s /bin/bash -G nix-users deploy
mkdir -p "$root/var/lib/systemd/linger"
touch "$root/var/lib/systemd/linger/deploy"

tar -C "$root" --numeric-owner --xattrs -cf - . | zstd -q -T0 -3 -o "$out.tmp"
mv -f "$out.tmp" "$out"
