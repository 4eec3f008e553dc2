// wipe_data: gives a stopped kvd a fresh, empty database that keeps only
// its meta column (node id, tokens, epochs): a replaced data disk with the
// node's identity restored, for benchmarking how anti-entropy restores
// such a replica (bench/cluster_compare.sh, PHASES=aae). The data and the
// hints are gone, with no delete markers left behind (deleting every key
// in place would leave the new database slower to read than a new disk).
// Refuses while kvd runs: RocksDB holds a lock on the database.
//
//   build/bench/wipe_data --data-dir=data/n3
#include <cstdio>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "storage/rocksdb_engine.h"

namespace {
int Fail(const std::string& what) {
  std::fprintf(stderr, "wipe_data: %s\n", what.c_str());
  return 1;
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app(
      "wipe_data: replace a stopped kvd's database with an empty one that "
      "keeps only its identity (a lost data disk, for benchmarks)");
  std::string data_dir;
  app.add_option("--data-dir", data_dir, "the node's --data-dir")->required();
  CLI11_PARSE(app, argc, argv);
  using rumor::storage::Column;
  const std::string db = data_dir + "/db", fresh = data_dir + "/db.fresh";
  std::vector<std::pair<std::string, std::string>> meta;
  size_t dropped = 0;
  {
    auto old = rumor::storage::OpenRocksDbEngine(db, {});
    if (!old.ok()) {
      return Fail("cannot open " + db + " (is kvd still running?): " +
                  old.status().ToString());
    }
    absl::Status s = (*old)->Scan(Column::kMeta, "", "",
                                  [&](std::string_view k, std::string_view v) {
                                    meta.emplace_back(k, v);
                                    return true;
                                  });
    if (s.ok()) {
      s = (*old)->Scan(Column::kData, "", "",
                       [&](std::string_view, std::string_view) {
                         ++dropped;
                         return true;
                       });
    }
    if (!s.ok()) return Fail(s.ToString());
  }
  std::error_code ec;
  std::filesystem::remove_all(fresh, ec);
  {
    auto engine = rumor::storage::OpenRocksDbEngine(fresh, {});
    if (!engine.ok()) return Fail(engine.status().ToString());
    rumor::storage::WriteBatch batch;
    for (const auto& [k, v] : meta) batch.Put(Column::kMeta, k, v);
    absl::Status s = (*engine)->Write(batch);
    if (s.ok()) s = (*engine)->Sync();
    if (!s.ok()) return Fail(s.ToString());
  }
  std::filesystem::remove_all(db, ec);
  if (ec) return Fail("cannot remove " + db + ": " + ec.message());
  std::filesystem::rename(fresh, db, ec);
  if (ec) return Fail("cannot rename " + fresh + ": " + ec.message());
  std::printf("wipe_data: deleted %zu entries from %s, kept %zu meta entries\n",
              dropped, db.c_str(), meta.size());
  return 0;
}
