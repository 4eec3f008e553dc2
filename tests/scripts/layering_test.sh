#!/usr/bin/env bash
# scripts/check-layering.sh guards the layering the build depends on. This
# test shows it passes on the repository and fails on each kind of plant:
# gRPC or generated protobuf code in a sans-I/O core, and an include of a
# layer above.
#
#   layering_test.sh REPO_DIR
set -uo pipefail
repo=${1:?usage: layering_test.sh REPO_DIR}
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
echo "PASS"
