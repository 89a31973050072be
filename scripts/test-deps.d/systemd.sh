#!/usr/bin/env bash
# systemd_exporter's test dependencies: systemd-nspawn and a Debian 12
# minbase root file system that tests boot a real systemd in (never on the
# host's own root). Idempotent: the rootfs is built once into
# ${BPFLEET_CACHE}/systemd-rootfs-bookworm-<rev>/ and reused.
set -euo pipefail
cache="${BPFLEET_CACHE:-/var/cache/bpfleet}"
rev=1
root="$cache/systemd-rootfs-bookworm-$rev"

missing=""
command -v systemd-nspawn >/dev/null || missing="$missing systemd-container"
command -v debootstrap >/dev/null || missing="$missing debootstrap"
# The journal collector's build flavour (-tags journal, cgo): go-systemd's
# sdjournal compiles against sd-journal.h and dlopens libsystemd.so.0.
[ -e /usr/lib/x86_64-linux-gnu/libsystemd.so.0 ] || [ -e /lib/x86_64-linux-gnu/libsystemd.so.0 ] ||
	ldconfig -p 2>/dev/null | grep -q 'libsystemd\.so\.0 ' || missing="$missing libsystemd0"
[ -e /usr/include/systemd/sd-journal.h ] || missing="$missing libsystemd-dev"
if [ -n "$missing" ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
fi

if [ -f "$root/.bpfleet-complete" ]; then
	exit 0
fi
mkdir -p "$cache"
tmp="$root.tmp.$$"
rm -rf "$tmp"
trap 'rm -rf "$tmp"' EXIT
# dbus for the system bus the exporter talks to; systemd is in minbase's
# dependency closure only through init, so name it.
debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus bookworm "$tmp" >/dev/null
# Quiet, fast boots: no getty on the console pipe, no network, no timers
# that would add units while tests run.
chroot "$tmp" systemctl mask console-getty.service getty@.service systemd-networkd.service \
	systemd-resolved.service apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer \
	fstrim.timer dpkg-db-backup.timer man-db.timer systemd-tmpfiles-clean.timer >/dev/null 2>&1 || true
touch "$tmp/.bpfleet-complete"
rm -rf "$root"
mv "$tmp" "$root"
trap - EXIT
