#!/usr/bin/env bash
# Fails (exit 1, naming file and line) when a source file includes a layer
# it must not see. The build runs this before compiling anything, so a
# violation stops `make`:
#
#   common/                    only common/
#   storage/                   common/, storage/
#   server/ring/               common/, server/ring/
#   server/membership/         common/, server/ring/, server/membership/
#   server/replication/        common/, storage/, server/{ring,membership,replication}/
#   server/antientropy/        common/, storage/, server/{ring,membership,replication,antientropy}/
#   server/metrics/            common/, server/metrics/
#   server/rpc/                anything but server/node/
#   client/                    common/, client/, proto/ (never server/ or storage/)
#
# A quoted include names a header by its path from the repository root or
# is a known third-party header; "../x.h", "./x.h" or a bare "x.h" would
# slip past the rules above, so they fail too.
#
# The folders above server/rpc and server/node are the sans-I/O cores: they
# must not include gRPC (grpcpp/, grpc/) or generated protobuf headers
# (*.pb.h, proto/), which is what lets one process simulate thousands of
# nodes and keeps generated headers out of most translation units.
#
# Usage: scripts/check-layering.sh [ROOT]   (default: the repository)
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root"

fail=0
# check DIR ALLOWED_PREFIXES... : every project include in DIR must start
# with one of the allowed prefixes.
check() {
  local dir=$1
  shift
  [ -d "$dir" ] || return 0
  local allowed=("$@")
  while IFS= read -r hit; do
    local file=${hit%%:*}
    local rest=${hit#*:}
    local line=${rest%%:*}
    local inc
    inc=$(sed -E 's/^[^:]*:[0-9]+:[[:space:]]*#[[:space:]]*include[[:space:]]*["<]([^">]*)[">].*/\1/' <<<"$hit")
    local ok=0
    if [[ $hit =~ include[[:space:]]*\" ]]; then
      case "$inc" in
        common/*|storage/*|server/*|client/*|proto/*|bench/*|tests/*) ;;
        absl/*|gtest/*|gmock/*|benchmark/*|google/*|grpcpp/*|grpc/*|rocksdb/*|CLI/*) ;;
        *)
          echo "layering: $file:$line includes \"$inc\"; quote project" \
               "headers by their path from the repository root" >&2
          fail=1
          continue
          ;;
      esac
    fi
    case "$inc" in
      common/*|storage/*|server/*|client/*|proto/*|bench/*|tests/*)
        for a in "${allowed[@]}"; do
          [[ $inc == "$a"* ]] && ok=1
        done
        ;;
      *) ok=1 ;;  # system and third-party headers: checked below
    esac
    if [ "$ok" -eq 0 ]; then
      echo "layering: $file:$line includes $inc, which $dir/ must not see" >&2
      fail=1
    fi
  done < <(grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*["<]' \
             --include='*.h' --include='*.cc' "$dir" || true)
}

# no_grpc DIR: no gRPC or generated protobuf headers at all.
no_grpc() {
  local dir=$1
  [ -d "$dir" ] || return 0
  while IFS= read -r hit; do
    echo "layering: ${hit%%:*}:$(cut -d: -f2 <<<"$hit") includes gRPC or" \
         "generated protobuf code, which the core folder $dir/ must not" >&2
    fail=1
  done < <(grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*["<](grpcpp/|grpc/|grpc\+\+/|google/protobuf/|proto/|[^">]*\.pb\.h)' \
             --include='*.h' --include='*.cc' "$dir" || true)
}

check common common/
check storage common/ storage/
check server/ring common/ server/ring/
check server/membership common/ server/ring/ server/membership/
check server/replication common/ storage/ server/ring/ server/membership/ server/replication/
check server/antientropy common/ storage/ server/ring/ server/membership/ \
  server/replication/ server/antientropy/
check server/metrics common/ server/metrics/
check server/rpc common/ storage/ server/ring/ server/membership/ \
  server/replication/ server/antientropy/ server/metrics/ server/rpc/ proto/
check client common/ client/ proto/
# Everything else is only held to the quoted-include rule.
for d in bench tests; do
  check "$d" common/ storage/ server/ client/ proto/ bench/ tests/
done
for d in common storage server/ring server/membership server/replication \
         server/antientropy server/metrics; do
  no_grpc "$d"
done

if [ "$fail" -ne 0 ]; then
  echo "layering: see scripts/check-layering.sh for the rules" >&2
  exit 1
fi
