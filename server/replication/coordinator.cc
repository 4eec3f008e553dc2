#include "server/replication/coordinator.h"

#include <utility>

#include "common/status.h"

namespace rumor::server {

using storage::DvvSet;
using storage::Sibling;
using storage::VersionVector;

namespace {

absl::Status StorageQueueFull() {
  return absl::ResourceExhaustedError(
      "the node's storage queue is full (the disk is not keeping up); "
      "nothing was written, retry shortly");
}

}  // namespace

ObjectView ViewOf(const DvvSet& object) {
  ObjectView view;
  view.values = object.LiveValues();
  view.found = !view.values.empty();
  view.context = object.Join().Encode();
  return view;
}

Coordinator::Coordinator(storage::ObjectStore* store, NodeId self,
                         Limits limits, Executor* storage_executor)
    : store_(store),
      self_(self),
      limits_(limits),
      storage_executor_(storage_executor) {}

void Coordinator::Get(std::string_view key, const RequestOptions& options,
                      ViewCallback done) {
  (void)options;  // R and timeout matter once reads span replicas
  if (absl::Status s = limits_.CheckKey(key); !s.ok()) {
    std::move(done)(s);
    return;
  }
  // The common case (memtable or cache hit) answers on the calling thread;
  // only a read that would touch the disk moves to the storage pool.
  absl::StatusOr<DvvSet> now = store_->TryGetNow(key);
  if (!storage::IsWouldBlock(now.status())) {
    if (!now.ok()) {
      std::move(done)(now.status());
    } else {
      std::move(done)(ViewOf(*now));
    }
    return;
  }
  storage_executor_->SubmitOrRefuse([this, key, done = std::move(done)](
                                        bool admitted) mutable {
    if (!admitted) {
      std::move(done)(StorageQueueFull());
      return;
    }
    absl::StatusOr<DvvSet> object = store_->Get(key);
    if (!object.ok()) {
      std::move(done)(object.status());
      return;
    }
    std::move(done)(ViewOf(*object));
  });
}

void Coordinator::Put(std::string_view key, std::string_view value,
                      std::string_view context, const RequestOptions& options,
                      bool return_body, ViewCallback done) {
  (void)options;
  if (absl::Status s = limits_.CheckValue(value); !s.ok()) {
    std::move(done)(s);
    return;
  }
  Write(key, Sibling::Value(std::string(value)), context, return_body,
        std::move(done));
}

void Coordinator::Delete(std::string_view key, std::string_view context,
                         const RequestOptions& options, DoneCallback done) {
  (void)options;
  Write(key, Sibling::Tombstone(), context, /*return_body=*/false,
        [done = std::move(done)](absl::StatusOr<ObjectView> r) mutable {
          std::move(done)(r.status());
        });
}

void Coordinator::Write(std::string_view key, Sibling sibling,
                        std::string_view context, bool return_body,
                        ViewCallback done) {
  absl::Status s = limits_.CheckKey(key);
  if (s.ok()) s = limits_.CheckContext(context);
  absl::StatusOr<VersionVector> ctx =
      s.ok() ? VersionVector::Decode(context) : absl::StatusOr<VersionVector>(s);
  if (!ctx.ok()) {
    std::move(done)(ctx.status());
    return;
  }
  // Without --sync a write is a memtable insert and a buffered log append:
  // do it here unless it would stall (or the key's stripe is busy).
  absl::StatusOr<DvvSet> now = store_->TryUpdateNow(key, *ctx, sibling, self_);
  if (!storage::IsWouldBlock(now.status())) {
    if (!now.ok()) {
      std::move(done)(now.status());
    } else {
      std::move(done)(return_body ? ViewOf(*now) : ObjectView{true, {}, {}});
    }
    return;
  }
  storage_executor_->SubmitOrRefuse([this, key, sibling = std::move(sibling),
                                     ctx = std::move(*ctx), return_body,
                                     done = std::move(done)](
                                        bool admitted) mutable {
    if (!admitted) {
      std::move(done)(StorageQueueFull());
      return;
    }
    absl::StatusOr<DvvSet> object =
        store_->Update(key, ctx, std::move(sibling), self_);
    if (!object.ok()) {
      std::move(done)(object.status());
      return;
    }
    std::move(done)(return_body ? ViewOf(*object) : ObjectView{true, {}, {}});
  });
}

}  // namespace rumor::server
