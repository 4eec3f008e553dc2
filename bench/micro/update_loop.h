// The read-modify-write loop both engine_bench and aae_bench time: one
// ObjectStore::Update per iteration, cycling over 10,000 keys, each write
// carrying the context of the key's last one (so objects stay one value).
#ifndef RUMOR_BENCH_MICRO_UPDATE_LOOP_H_
#define RUMOR_BENCH_MICRO_UPDATE_LOOP_H_

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "storage/dvv.h"
#include "storage/object_store.h"

namespace rumor::bench {

inline void UpdateLoop(benchmark::State& state, storage::ObjectStore* store) {
  constexpr int kKeys = 10000;
  std::vector<std::string> keys;
  keys.reserve(kKeys);
  for (int i = 0; i < kKeys; ++i) keys.push_back(absl::StrCat("user", i));
  std::vector<storage::VersionVector> contexts(keys.size());
  const std::string value(100, 'v');
  constexpr storage::ActorId kActor = 0x5eed;
  size_t i = 0;
  for (auto _ : state) {
    size_t k = i++ % keys.size();
    auto object = store->Update(keys[k], contexts[k],
                                storage::Sibling::Value(value), kActor);
    if (!object.ok()) {
      state.SkipWithError(std::string(object.status().message()).c_str());
      break;
    }
    contexts[k] = object->Join();
  }
  state.SetItemsProcessed(state.iterations());
}

}  // namespace rumor::bench

#endif  // RUMOR_BENCH_MICRO_UPDATE_LOOP_H_
