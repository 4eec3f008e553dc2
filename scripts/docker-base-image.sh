#!/usr/bin/env bash
# Makes sure the Docker engine has a debian:bookworm-slim image, which
# docker/Dockerfile builds FROM. Where the engine can pull it (the usual
# case) this is not needed: `docker build` pulls it itself. On a machine
# with no image registry, it builds an equivalent image from Debian
# packages instead: debootstrap (minbase variant) from the Debian mirror
# the host's apt uses, trimmed of apt lists, docs, man pages and locales,
# imported as debian:bookworm-slim with CMD ["bash"].
#
# Idempotent: does nothing if the image is already there (pass --force to
# rebuild it). Needs root (debootstrap, and apt-get if debootstrap is
# missing).
#
#   scripts/docker-base-image.sh
#   MIRROR=http://deb.debian.org/debian scripts/docker-base-image.sh --force
#   (SECURITY_MIRROR likewise; both default to what the host's apt uses)
set -euo pipefail

IMAGE=${IMAGE:-debian:bookworm-slim}
SUITE=${SUITE:-bookworm}
FORCE=0
for arg in "$@"; do
  case "$arg" in
    --force) FORCE=1 ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "docker-base-image: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

say() { echo "docker-base-image: $*" >&2; }
die() { say "error: $*"; exit 1; }

command -v docker >/dev/null 2>&1 || die "docker not found"
docker info >/dev/null 2>&1 || die "cannot talk to the Docker engine (is it running? are you in the docker group?)"

if [ "$FORCE" -eq 0 ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  say "$IMAGE already present ($(docker image inspect -f '{{.Id}}' "$IMAGE" | cut -c1-19)); nothing to do"
  exit 0
fi

[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap needs it): sudo $0"

# The Debian mirror the host's apt uses: the first "main archive" URI in
# sources.list or a deb822 .sources file (security URIs skipped).
host_mirror() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk 'tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i }' "$f"
  done
}
if [ -z "${MIRROR:-}" ]; then
  MIRROR=$(host_mirror | grep -v -- '-security' | grep -E '/debian/?$' | head -n1 || true)
  MIRROR=${MIRROR:-http://deb.debian.org/debian}
fi
MIRROR=${MIRROR%/}
# Security updates: the host's debian-security URI, else the same host.
if [ -z "${SECURITY_MIRROR:-}" ]; then
  SECURITY_MIRROR=$(host_mirror | grep -E '/debian-security/?$' | head -n1 || true)
  SECURITY_MIRROR=${SECURITY_MIRROR:-${MIRROR%/debian}/debian-security}
fi
SECURITY_MIRROR=${SECURITY_MIRROR%/}
say "building $IMAGE from $MIRROR ($SUITE, minbase)"

if ! command -v debootstrap >/dev/null 2>&1; then
  say "installing debootstrap"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q -o DPkg::Lock::Timeout=300 --no-install-recommends debootstrap >/dev/null 2>&1 \
    || { apt-get update -q -o DPkg::Lock::Timeout=300 >/dev/null && apt-get install -y -q -o DPkg::Lock::Timeout=300 --no-install-recommends debootstrap >/dev/null; } \
    || die "could not install debootstrap"
fi

WORK=$(mktemp -d /tmp/rumor-rootfs.XXXXXX)
cleanup() {
  local rc=$?
  # A failed debootstrap can leave /proc or /sys mounted inside the tree:
  # unmount before deleting, never delete through a mount.
  local m
  for m in $(awk -v w="$WORK/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
  rm -rf --one-file-system "$WORK"
  [ $rc -eq 0 ] || say "failed (exit $rc); temporary files removed"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
ROOT="$WORK/rootfs"

say "debootstrap into $ROOT (a few minutes)"
if ! debootstrap --variant=minbase "$SUITE" "$ROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1; then
  tail -n 20 "$WORK/debootstrap.log" >&2
  [ -f "$ROOT/debootstrap/debootstrap.log" ] && tail -n 20 "$ROOT/debootstrap/debootstrap.log" >&2
  die "debootstrap failed (log above)"
fi

say "configuring apt and trimming"
# The sources the official image ships: main archive, updates, security.
rm -f "$ROOT/etc/apt/sources.list"
cat >"$ROOT/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY_MIRROR
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
# What the official image configures: no recommends/suggests kept when
# purging, no translations, compressed indexes, no docs/man/locales.
cat >"$ROOT/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
echo 'Acquire::Languages "none";' >"$ROOT/etc/apt/apt.conf.d/docker-no-languages"
echo 'Acquire::GzipIndexes "true";' >"$ROOT/etc/apt/apt.conf.d/docker-gzip-indexes"
echo 'Apt::AutoRemove::SuggestsImportant "false";' >"$ROOT/etc/apt/apt.conf.d/docker-autoremove-suggests"
cat >"$ROOT/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
EOF
# Files already unpacked: same rules applied by hand.
find "$ROOT/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
find "$ROOT/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
rm -rf "$ROOT"/usr/share/man/* "$ROOT"/usr/share/info/* "$ROOT"/usr/share/lintian/*
find "$ROOT/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} + 2>/dev/null || true
rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/*.bin "$ROOT"/var/cache/apt/archives/*.deb \
       "$ROOT"/var/log/*.log "$ROOT"/var/log/apt/* "$ROOT"/debootstrap "$ROOT"/tmp/* "$ROOT"/root/.bash_history
mkdir -p "$ROOT/var/lib/apt/lists/partial"
# Filled in by the engine at run time; the host's copies must not leak in.
: >"$ROOT/etc/resolv.conf"
echo localhost >"$ROOT/etc/hostname"
rm -f "$ROOT/etc/machine-id" && : >"$ROOT/etc/machine-id"
# No daemons may start while a Dockerfile installs packages.
printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d" && chmod 755 "$ROOT/usr/sbin/policy-rc.d"

say "importing as $IMAGE"
VERSION=$(cat "$ROOT/etc/debian_version" 2>/dev/null || echo "$SUITE")
ID=$(tar --numeric-owner --xattrs -C "$ROOT" -c . \
     | docker import --change 'CMD ["bash"]' \
         --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
         --message "debootstrap --variant=minbase $SUITE $MIRROR (Debian $VERSION)" \
         - "$IMAGE") || die "docker import failed"
SIZE=$(docker image inspect -f '{{.Size}}' "$IMAGE")
say "done: $IMAGE ${ID:7:12}, Debian $VERSION, $((SIZE / 1000000)) MB"
