// wipe_data: empties a stopped kvd's data column and keeps its meta column
// (node id, tokens, epochs): a replaced data disk with the node's identity
// kept, for benchmarking how anti-entropy restores such a replica
// (bench/cluster_compare.sh, PHASES=aae). Refuses while kvd runs: RocksDB
// holds a lock on the database.
//
//   build/bench/wipe_data --data-dir=data/n3
#include <cstdio>
#include <string>

#include "CLI/CLI.hpp"
#include "storage/rocksdb_engine.h"

int main(int argc, char** argv) {
  CLI::App app(
      "wipe_data: delete every object in a stopped kvd's data column, "
      "keeping its identity (a lost data disk, for benchmarks)");
  std::string data_dir;
  app.add_option("--data-dir", data_dir, "the node's --data-dir")->required();
  CLI11_PARSE(app, argc, argv);
  auto engine = rumor::storage::OpenRocksDbEngine(
      data_dir + "/db", rumor::storage::RocksDbOptions{});
  if (!engine.ok()) {
    std::fprintf(stderr, "wipe_data: cannot open %s/db (is kvd still running?): %s\n",
                 data_dir.c_str(), engine.status().ToString().c_str());
    return 1;
  }
  size_t deleted = 0;
  // In batches, so a large column does not build one huge batch.
  while (true) {
    rumor::storage::WriteBatch wipe;
    absl::Status s = (*engine)->Scan(
        rumor::storage::Column::kData, "", "",
        [&](std::string_view k, std::string_view) {
          wipe.Delete(rumor::storage::Column::kData, k);
          return wipe.ops().size() < 10000;
        });
    if (s.ok() && !wipe.ops().empty()) s = (*engine)->Write(wipe);
    if (!s.ok()) {
      std::fprintf(stderr, "wipe_data: %s\n", s.ToString().c_str());
      return 1;
    }
    if (wipe.ops().empty()) break;
    deleted += wipe.ops().size();
  }
  std::printf("wipe_data: deleted %zu entries from %s/db\n", deleted,
              data_dir.c_str());
  return 0;
}
