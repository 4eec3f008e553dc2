// aae_exchange: what one anti-entropy exchange between two replicas costs,
// for n keys of which k differ: bytes both sides send (tree queries and
// answers), requests, and time, next to what exchanging every key's digest
// would send. Both replicas live in this process (RocksDB in a temporary
// directory); the exchange runs exactly as between two nodes (Exchange,
// RangeHash, ListKeys) minus the network. docs/benchmarks.md quotes it.
//
//   aae_exchange [--keys=100000,1000000] [--diffs=0,1,10,100,1000]

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/antientropy/exchange.h"
#include "server/antientropy/hash_tree.h"
#include "storage/dvv.h"
#include "storage/object_store.h"
#include "storage/rocksdb_engine.h"
#include "tests/support/temp_dir.h"

namespace {

using rumor::server::Exchange;
using rumor::server::HashTree;
using rumor::server::KeyDigest;
using rumor::server::PositionRange;
using rumor::storage::DvvSet;
using rumor::storage::ObjectStore;
using rumor::storage::Sibling;

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since)
      .count();
}

struct Replica {
  std::unique_ptr<rumor::storage::Engine> engine;
  std::unique_ptr<ObjectStore> store;
  std::unique_ptr<HashTree> tree;
};

Replica Open(const std::string& dir) {
  Replica r;
  auto engine = rumor::storage::OpenRocksDbEngine(dir, {});
  if (!engine.ok()) {
    std::fprintf(stderr, "aae_exchange: %s\n",
                 std::string(engine.status().message()).c_str());
    std::exit(1);
  }
  r.engine = *std::move(engine);
  r.store = std::make_unique<ObjectStore>(r.engine.get());
  r.tree = std::make_unique<HashTree>();
  r.store->SetObserver(r.tree.get());
  return r;
}

// Answers one request as a node would (HashTree/RangeHash, ListKeys).
void Answer(Replica& r, const Exchange::Request& req,
            std::vector<uint64_t>* hashes, std::vector<KeyDigest>* keys) {
  for (const PositionRange& range : req.ranges) {
    if (req.kind == Exchange::Request::Kind::kHashes) {
      hashes->push_back(*rumor::server::RangeHash(*r.tree, r.store.get(), range));
    } else {
      (void)rumor::server::ListKeys(r.store.get(), range, 1 << 20, keys);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"aae_exchange: bytes and time of one anti-entropy exchange"};
  std::string keys_arg = "100000,1000000", diffs_arg = "0,1,10,100,1000";
  app.add_option("--keys", keys_arg, "key counts n, comma-separated")
      ->capture_default_str();
  app.add_option("--diffs", diffs_arg, "differing key counts k, comma-separated")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  std::vector<uint64_t> ns, ks;
  for (auto s : absl::StrSplit(keys_arg, ',', absl::SkipEmpty())) {
    uint64_t v;
    if (!absl::SimpleAtoi(s, &v)) return std::fprintf(stderr, "bad --keys\n"), 2;
    ns.push_back(v);
  }
  for (auto s : absl::StrSplit(diffs_arg, ',', absl::SkipEmpty())) {
    uint64_t v;
    if (!absl::SimpleAtoi(s, &v)) return std::fprintf(stderr, "bad --diffs\n"), 2;
    ks.push_back(v);
  }

  std::printf("| n keys | k differing | found | requests | bytes | ms | "
              "every key's digest (bytes) | ratio |\n");
  std::printf("|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (uint64_t n : ns) {
    rumor::testing::TempDir dir;
    Replica a = Open(dir.Sub("a")), b = Open(dir.Sub("b"));
    for (Replica* r : {&a, &b}) {
      if (!r->tree->Build(r->store.get(), [](double, uint64_t) {}).ok()) return 1;
    }
    auto load = std::chrono::steady_clock::now();
    uint64_t digest_bytes = 0;
    const std::string value(100, 'v');
    for (uint64_t i = 0; i < n; ++i) {
      std::string key = absl::StrCat("user", i);
      auto object = a.store->Update(key, {}, Sibling::Value(value), 0xa);
      if (!object.ok() || !b.store->Merge(key, *object).ok()) return 1;
      digest_bytes += key.size() + 8;
      if (i > 0 && i % 200000 == 0) {
        std::fprintf(stderr, "aae_exchange: loaded %llu of %llu keys\n",
                     static_cast<unsigned long long>(i),
                     static_cast<unsigned long long>(n));
      }
    }
    std::fprintf(stderr, "aae_exchange: %llu keys on both replicas in %.1f s\n",
                 static_cast<unsigned long long>(n), Seconds(load));
    uint64_t changed = 0;
    for (uint64_t k : ks) {
      // Make k keys differ in all: change more keys on b (a sibling only b
      // has), spread over the key space.
      for (; changed < k && changed < n; ++changed) {
        std::string key = absl::StrCat("user", (changed * 7919) % n);
        DvvSet only_b;
        (void)only_b.Update({}, Sibling::Value("b-only"), 0xb);
        if (!b.store->Merge(key, only_b).ok()) return 1;
      }
      auto start = std::chrono::steady_clock::now();
      Exchange ex({{0, ~uint64_t{0}}});
      uint64_t requests = 0;
      while (!ex.done()) {
        auto req = ex.Next();
        if (!req) break;
        ++requests;
        std::vector<uint64_t> ha, hb;
        std::vector<KeyDigest> ka, kb;
        Answer(a, *req, &ha, &ka);
        Answer(b, *req, &hb, &kb);
        if (req->kind == Exchange::Request::Kind::kHashes) {
          ex.OnHashes(ha, hb);
        } else {
          ex.OnKeys(ka, kb);
        }
      }
      double ms = Seconds(start) * 1000;
      uint64_t bytes = ex.stats().bytes;
      std::printf("| %llu | %llu | %zu | %llu | %llu | %.1f | %llu | 1/%.0f |\n",
                  static_cast<unsigned long long>(n),
                  static_cast<unsigned long long>(k), ex.differing().size(),
                  static_cast<unsigned long long>(requests),
                  static_cast<unsigned long long>(bytes), ms,
                  static_cast<unsigned long long>(digest_bytes),
                  bytes ? static_cast<double>(digest_bytes) / bytes : 0.0);
      std::fflush(stdout);
    }
    a.store->SetObserver(nullptr);
    b.store->SetObserver(nullptr);
  }
  std::printf("\n(hash tree: %zu bytes per replica whatever n)\n",
              HashTree().MemoryBytes());
  return 0;
}
