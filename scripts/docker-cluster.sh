#!/usr/bin/env bash
# The 5-node Docker cluster of docker/compose.yml, built and checked:
#
#   scripts/docker-cluster.sh image   base image if missing, then the rumor image
#   scripts/docker-cluster.sh up      image, start the 5 nodes, wait until every
#                                     node sees 5 alive members, say how to use it
#   scripts/docker-cluster.sh down    stop and remove the cluster: containers,
#                                     network and data volumes
#
# The base image comes from scripts/docker-base-image.sh, which does nothing
# when debian:bookworm-slim is already there (or pullable: set PULL=1 to let
# `docker build` pull it instead). The image is built with the engine's
# default builder (the legacy one or BuildKit: the Dockerfile needs neither).
#
#   IMAGE=rumor:dev    the image to build and run
#   WAIT=180           seconds `up` waits for the cluster to form
#   RUMOR_R, RUMOR_W, RUMOR_PROBE_INTERVAL   passed on to the nodes
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-rumor:dev}
WAIT=${WAIT:-180}
NODES=5
COMPOSE_FILE=docker/compose.yml
PROJECT=rumor
export RUMOR_IMAGE=$IMAGE

say() { echo "docker-cluster: $*" >&2; }
die() { say "error: $*"; exit 1; }

command -v docker >/dev/null 2>&1 || die "docker not found"
# Compose v2 (a docker plugin) if present, else docker-compose v1.
if docker compose version >/dev/null 2>&1; then
  DC=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
  DC=(docker-compose)
else
  die "neither 'docker compose' nor 'docker-compose' is installed"
fi
dc() { "${DC[@]}" -p "$PROJECT" -f "$COMPOSE_FILE" "$@"; }

build_image() {
  if [ "${PULL:-0}" != 1 ]; then
    bash scripts/docker-base-image.sh
  fi
  say "building $IMAGE (docker build -f docker/Dockerfile -t $IMAGE .)"
  local start=$SECONDS
  docker build -f docker/Dockerfile -t "$IMAGE" .
  say "built $IMAGE in $((SECONDS - start))s ($(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%d MB", $1 / 1e6}'))"
}

# How many members node N sees alive with their ring tokens claimed (the
# STATUS column says "joining" until a new node has pulled its ranges).
alive_seen_by() {
  dc exec -T "node$1" kvcli --timeout=2s members 2>/dev/null |
    awk 'NR > 1 && $3 == "alive" && $5 > 0 { n++ } END { print n + 0 }'
}

up() {
  build_image
  say "starting $NODES nodes (${DC[*]} -p $PROJECT -f $COMPOSE_FILE up -d)"
  local start=$SECONDS
  dc up -d --no-build
  local deadline=$((SECONDS + WAIT)) i counts ready
  while true; do
    counts="" ready=1
    for i in $(seq 1 "$NODES"); do
      local n
      n=$(alive_seen_by "$i")
      counts+=" node$i:$n"
      [ "$n" -eq "$NODES" ] || ready=0
    done
    [ "$ready" -eq 1 ] && break
    if [ "$SECONDS" -ge "$deadline" ]; then
      dc ps >&2 || true
      dc logs --tail=20 >&2 || true
      die "the cluster did not form within ${WAIT}s (alive members seen by each node:$counts)"
    fi
    sleep 1
  done
  say "every node sees $NODES alive members, $((SECONDS - start))s after 'up'"
  cat <<USAGE
rumor: $NODES nodes up (project $PROJECT), client ports on 127.0.0.1:17379..17383
  build/kvcli --server=127.0.0.1:17379 members
  build/kvcli --server=127.0.0.1:17379 put greeting hello
  build/kvcli --server=127.0.0.1:17383 get greeting
  ${DC[*]} -p $PROJECT -f $COMPOSE_FILE exec node1 kvcli ring
  ${DC[*]} -p $PROJECT -f $COMPOSE_FILE stop node3      # and 'start node3'
  ${DC[*]} -p $PROJECT -f $COMPOSE_FILE logs -f node2
  scripts/docker-cluster.sh down                         # removes it all, data too
USAGE
}

down() {
  say "removing the cluster's containers, network and data volumes"
  dc down -v --remove-orphans
}

case "${1:-}" in
  image) build_image ;;
  up) up ;;
  down) down ;;
  *) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
