// Micro-benchmarks of dotted version vector sets (storage/dvv.h): the work
// every write does (Update with the client's context), what replication
// does (Merge), and the codecs on every request and stored object.
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "storage/dvv.h"

namespace rumor::storage {
namespace {

constexpr size_t kValueBytes = 100;

// Actor ids spread like node ids (random 64-bit), not 1, 2, 3.
ActorId Actor(int i) { return 0x9e3779b97f4a7c15ULL * (i + 1); }

// A set holding `siblings` concurrent values from each of `actors` actors:
// every write carries no context, so none replaces another.
DvvSet SetWithSiblings(int actors, int siblings, int salt = 0) {
  DvvSet set;
  for (int s = 0; s < siblings; ++s) {
    for (int a = 0; a < actors; ++a) {
      std::string value(kValueBytes,
                        static_cast<char>('a' + (s + a + salt) % 26));
      benchmark::DoNotOptimize(set.Update(
          VersionVector(), Sibling::Value(std::move(value)), Actor(a)));
    }
  }
  return set;
}

// A client write with the context of the previous write's reply (the
// steady state of one writer): the old value is replaced, the set keeps one
// value. Arg: actors that have written the key before (context size).
void BM_DvvUpdateWithContext(benchmark::State& state) {
  const int actors = static_cast<int>(state.range(0));
  DvvSet set = SetWithSiblings(actors, 1);
  const std::string value(kValueBytes, 'v');
  for (auto _ : state) {
    VersionVector context = set.Join();
    auto counter = set.Update(context, Sibling::Value(value), Actor(0));
    benchmark::DoNotOptimize(counter);
  }
  if (set.SiblingCount() != 1) state.SkipWithError("context did not collapse");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DvvUpdateWithContext)->Arg(1)->Arg(3)->Arg(8);

// Sync of two replicas' diverged copies. Args: actors, siblings per actor.
// The timed work includes copying the local set (Merge mutates it).
void BM_DvvMerge(benchmark::State& state) {
  const int actors = static_cast<int>(state.range(0));
  const int siblings = static_cast<int>(state.range(1));
  DvvSet local = SetWithSiblings(actors, siblings);
  DvvSet remote = local;
  // The remote replica saw further writes of actor 0 that replaced what it
  // had, plus one new concurrent value from a fresh actor.
  std::string value(kValueBytes, 'r');
  benchmark::DoNotOptimize(
      remote.Update(remote.Join(), Sibling::Value(value), Actor(0)));
  benchmark::DoNotOptimize(
      remote.Update(VersionVector(), Sibling::Value(value), Actor(actors)));
  for (auto _ : state) {
    DvvSet merged = local;
    merged.Merge(remote);
    benchmark::DoNotOptimize(merged);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DvvMerge)->Args({1, 1})->Args({3, 1})->Args({3, 3})->Args({8, 2});

// Args: actors, siblings per actor.
void BM_DvvEncode(benchmark::State& state) {
  DvvSet set = SetWithSiblings(static_cast<int>(state.range(0)),
                               static_cast<int>(state.range(1)));
  size_t bytes = 0;
  for (auto _ : state) {
    std::string encoded = set.Encode();
    bytes += encoded.size();
    benchmark::DoNotOptimize(encoded);
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_DvvEncode)->Args({1, 1})->Args({3, 1})->Args({3, 3});

void BM_DvvDecode(benchmark::State& state) {
  const std::string encoded = SetWithSiblings(static_cast<int>(state.range(0)),
                                              static_cast<int>(state.range(1)))
                                  .Encode();
  for (auto _ : state) {
    auto set = DvvSet::Decode(encoded);
    if (!set.ok()) {
      state.SkipWithError("decode failed");
      break;
    }
    benchmark::DoNotOptimize(set);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(encoded.size()));
}
BENCHMARK(BM_DvvDecode)->Args({1, 1})->Args({3, 1})->Args({3, 3});

// The context a client gets with every read and sends with every write.
// Arg: actors in it.
VersionVector ContextOf(int actors) {
  VersionVector v;
  for (int a = 0; a < actors; ++a) v.Set(Actor(a), 1000 + a);
  return v;
}

void BM_VersionVectorEncode(benchmark::State& state) {
  const VersionVector v = ContextOf(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    std::string encoded = v.Encode();
    benchmark::DoNotOptimize(encoded);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_VersionVectorEncode)->Arg(1)->Arg(3)->Arg(16);

void BM_VersionVectorDecode(benchmark::State& state) {
  const std::string encoded =
      ContextOf(static_cast<int>(state.range(0))).Encode();
  for (auto _ : state) {
    auto v = VersionVector::Decode(encoded);
    if (!v.ok()) {
      state.SkipWithError("decode failed");
      break;
    }
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_VersionVectorDecode)->Arg(1)->Arg(3)->Arg(16);

}  // namespace
}  // namespace rumor::storage
