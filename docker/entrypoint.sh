#!/bin/sh
# The image's entrypoint: kvd, configured by RUMOR_* variables (and any
# arguments), as PID 1 so that `docker stop`'s SIGTERM reaches it. kvd
# refuses to listen on a wildcard address without an address to advertise:
# by default this container's hostname and the port it listens on.
if [ -z "${RUMOR_ADVERTISE:-}" ]; then
  RUMOR_ADVERTISE="$(cat /proc/sys/kernel/hostname):${RUMOR_LISTEN##*:}"
  export RUMOR_ADVERTISE
fi
exec kvd "$@"
