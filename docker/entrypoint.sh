#!/bin/sh
# The image's entrypoint: kvd, configured by RUMOR_* variables (and any
# arguments), as PID 1 so that `docker stop`'s SIGTERM reaches it. kvd
# refuses to listen on a wildcard address without an address to advertise:
# by default this container's hostname and the port it listens on.
if [ -z "${RUMOR_ADVERTISE:-}" ]; then
  RUMOR_ADVERTISE="$(cat /proc/sys/kernel/hostname):${RUMOR_LISTEN##*:}"
  export RUMOR_ADVERTISE
fi

# Clock-skew faults (docker/chaos clock-skew): only when RUMOR_FAKETIME_FILE
# is set, as docker/compose.yml does for the test cluster. kvd then runs
# under libfaketime, whose offset from the real clock ("+0", "+3600",
# "-1800": seconds) is read from that file, again at most every second, so
# writing the file moves kvd's wall clock (CLOCK_REALTIME, time(),
# gettimeofday) while it runs. The monotonic clock and file times stay
# real. faketime-futex.so, preloaded first, keeps absl's timed waits (which
# the kernel times on the real clock) as long as asked: see
# docker/faketime-futex.c. Unset (the image's default), nothing is
# preloaded.
if [ -n "${RUMOR_FAKETIME_FILE:-}" ]; then
  lib=
  for f in /usr/lib/*/faketime/libfaketime.so.1; do
    [ -e "$f" ] && lib=$f
  done
  if [ -z "$lib" ]; then
    echo "rumor-entrypoint: RUMOR_FAKETIME_FILE is set but libfaketime.so.1 is not installed" >&2
    exit 1
  fi
  if [ ! -e "$RUMOR_FAKETIME_FILE" ]; then
    echo "+0" > "$RUMOR_FAKETIME_FILE" || exit 1
  fi
  shim=/usr/local/lib/rumor/faketime-futex.so
  if [ ! -e "$shim" ]; then
    echo "rumor-entrypoint: RUMOR_FAKETIME_FILE is set but $shim is missing" >&2
    exit 1
  fi
  LD_PRELOAD="$shim $lib"
  FAKETIME_TIMESTAMP_FILE=$RUMOR_FAKETIME_FILE
  FAKETIME_DONT_FAKE_MONOTONIC=1
  FAKETIME_CACHE_DURATION=1
  NO_FAKE_STAT=1
  export LD_PRELOAD FAKETIME_TIMESTAMP_FILE FAKETIME_DONT_FAKE_MONOTONIC \
    FAKETIME_CACHE_DURATION NO_FAKE_STAT
fi
exec kvd "$@"
