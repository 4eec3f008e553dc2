#include "server/coordinator.h"

#include <utility>

#include "common/status.h"

namespace rumor::server {

using storage::DvvSet;
using storage::Sibling;
using storage::VersionVector;

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
  storage_executor_->Submit([this, key, done = std::move(done)]() mutable {
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
                      ViewCallback done) {
  (void)options;
  if (absl::Status s = limits_.CheckValue(value); !s.ok()) {
    std::move(done)(s);
    return;
  }
  Write(key, Sibling::Value(std::string(value)), context, std::move(done));
}

void Coordinator::Delete(std::string_view key, std::string_view context,
                         const RequestOptions& options, DoneCallback done) {
  (void)options;
  Write(key, Sibling::Tombstone(), context,
        [done = std::move(done)](absl::StatusOr<ObjectView> r) mutable {
          std::move(done)(r.status());
        });
}

void Coordinator::Write(std::string_view key, Sibling sibling,
                        std::string_view context, ViewCallback done) {
  absl::Status s = limits_.CheckKey(key);
  if (s.ok()) s = limits_.CheckContext(context);
  absl::StatusOr<VersionVector> ctx =
      s.ok() ? VersionVector::Decode(context) : absl::StatusOr<VersionVector>(s);
  if (!ctx.ok()) {
    std::move(done)(ctx.status());
    return;
  }
  storage_executor_->Submit([this, key, sibling = std::move(sibling),
                             ctx = std::move(*ctx),
                             done = std::move(done)]() mutable {
    absl::StatusOr<DvvSet> object =
        store_->Update(key, ctx, std::move(sibling), self_);
    if (!object.ok()) {
      std::move(done)(object.status());
      return;
    }
    std::move(done)(ViewOf(*object));
  });
}

}  // namespace rumor::server
