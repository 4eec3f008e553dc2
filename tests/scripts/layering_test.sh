#!/usr/bin/env bash
# scripts/check-layering.sh guards the layering the build depends on. This
# test shows it passes on the repository and fails on each kind of plant:
# gRPC or generated protobuf code in a sans-I/O core, and an include of a
# layer above, a relative or folder-less quoted include, and (given CMAKE)
# a core library that links gRPC privately, which the configure-time link
# walk in CMakeLists.txt must refuse.
#
#   layering_test.sh REPO_DIR [CMAKE]
set -uo pipefail
repo=${1:?usage: layering_test.sh REPO_DIR [CMAKE]}
cmake=${2:-}
work=$(mktemp -d /tmp/rumor-layering.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

bash "$repo/scripts/check-layering.sh" "$repo" ||
  fail "the repository itself violates the layering rules"

# plant FILE LINE EXPECTED: copy the tree, add LINE to FILE, and expect the
# check to fail with a message naming FILE and matching EXPECTED.
plant() {
  local file=$1 line=$2 expected=$3
  rm -rf "$work/tree"
  mkdir -p "$work/tree"
  for d in common storage server client proto; do
    cp -r "$repo/$d" "$work/tree/$d"
  done
  [ -f "$work/tree/$file" ] || fail "no $file to plant into"
  sed -i "1i $line" "$work/tree/$file"
  local out
  if out=$(bash "$repo/scripts/check-layering.sh" "$work/tree" 2>&1); then
    fail "planting '$line' in $file was not caught"
  fi
  grep -q "$file" <<<"$out" || fail "the message does not name $file: $out"
  grep -q "$expected" <<<"$out" || fail "expected '$expected' in: $out"
  echo "caught: $line in $file"
}

plant server/ring/ring.h '#include <grpcpp/grpcpp.h>' 'gRPC'
plant server/membership/membership.cc '#include "proto/peer.pb.h"' 'gRPC or'
plant server/replication/coordinator.h '#include "server/rpc/kv_service.h"' 'must not see'
plant storage/object_store.h '#include "server/ring/ring.h"' 'must not see'
plant common/hash.h '#include "storage/engine.h"' 'must not see'
plant client/client.h '#include "server/node/node.h"' 'must not see'
plant server/rpc/kv_service.h '#include "server/node/node.h"' 'must not see'
plant server/membership/membership.cc '#include "../rpc/peer_codec.h"' 'path from the repository root'
plant server/ring/ring.cc '#include "ring.h"' 'path from the repository root'
plant storage/engine.h '#include "./object_store.h"' 'path from the repository root'

if [ -n "$cmake" ]; then
  # A PRIVATE link hides behind $<LINK_ONLY:...> in a static library's
  # interface; the walk must still see it. Configure only (no build), with
  # tests and benchmarks off to keep it quick.
  rm -rf "$work/tree"
  mkdir -p "$work/tree"
  for f in CMakeLists.txt cmake scripts common storage server client proto; do
    [ -e "$repo/$f" ] && cp -r "$repo/$f" "$work/tree/$f"
  done
  echo 'target_link_libraries(rumor_ring PRIVATE gRPC::grpc++)' \
    >>"$work/tree/server/ring/CMakeLists.txt"
  if out=$("$cmake" -S "$work/tree" -B "$work/tree/b" -G Ninja \
             -DRUMOR_BUILD_TESTS=OFF -DRUMOR_BUILD_BENCHMARKS=OFF 2>&1); then
    fail "a private gRPC link in rumor_ring was not caught"
  fi
  grep -q "core library rumor_ring links gRPC::grpc++" <<<"$out" ||
    fail "expected the link walk to name rumor_ring and gRPC::grpc++: $out"
  echo "caught: rumor_ring linking gRPC::grpc++ privately"
fi
echo "PASS"
