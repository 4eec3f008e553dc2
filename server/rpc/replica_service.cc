#include "server/rpc/replica_service.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/log.h"
#include "proto/peer.grpc.pb.h"
#include "server/rpc/grpc_status.h"
#include "server/rpc/peer_codec.h"
#include "server/rpc/replica_codec.h"

namespace rumor::server {

namespace {
class ReplicaReceiver;
}

struct ReplicaService::Impl final : public v1::Replica::CallbackService {
  std::string cluster;
  Handler handler;
  std::shared_ptr<const PeerAuthorizer> authorizer;
  absl::Mutex mu;
  // Open streams. Shutdown pins a receiver while it cancels the call
  // without the lock; the last of OnDone and the unpin deletes it.
  // A pinned receiver's context must stay alive, so its Finish waits for
  // the unpin (no Finish, no OnDone).
  struct Open {
    grpc::CallbackServerContext* ctx = nullptr;
    int pins = 0;
    bool finishing = false;  // Finish called (or deferred): nothing to cancel
    std::optional<absl::Status> deferred;  // Finish to call on unpin
    bool done = false;
  };
  std::map<ReplicaReceiver*, Open> open ABSL_GUARDED_BY(mu);
  bool shut_down ABSL_GUARDED_BY(mu) = false;
  std::atomic<uint64_t> malformed{0};

  grpc::ServerBidiReactor<v1::ReplicaFrame, v1::ReplicaFrame>* Exchange(
      grpc::CallbackServerContext* ctx) override;
  // OnDone's half of the deletion protocol: true when the caller deletes.
  bool Done(ReplicaReceiver* r);
  // True when the receiver may call Finish(status) now; otherwise the
  // unpin calls it.
  bool FinishOrDefer(ReplicaReceiver* r, const absl::Status& status);
  void Unpin(ReplicaReceiver* r);
};

namespace {

class ReplicaReceiver final
    : public grpc::ServerBidiReactor<v1::ReplicaFrame, v1::ReplicaFrame> {
 public:
  ReplicaReceiver(ReplicaService::Impl* service, grpc::CallbackServerContext* ctx)
      : service_(service), ctx_(ctx) {
    {
      absl::MutexLock lock(&service_->mu);
      ReplicaService::Impl::Open open;
      open.ctx = ctx;
      service_->open[this] = std::move(open);
    }
    StartRead(&in_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      Due due;
      {
        absl::MutexLock lock(&mu_);
        read_done_ = true;
        due = NextLocked();
      }
      Run(due);
      return;
    }
    if (!hello_) {
      absl::Status refusal;
      {
        absl::MutexLock lock(&service_->mu);
        if (service_->shut_down) {
          refusal = absl::UnavailableError("node shutting down");
        }
      }
      if (refusal.ok()) {
        refusal = in_.has_hello()
                      ? CheckHello(in_.hello(), service_->cluster)
                      : absl::InvalidArgumentError(
                            "the first frame of a replication stream must "
                            "be a hello");
      }
      if (!refusal.ok()) {
        RUMOR_LOG_EVERY_SECONDS(WARNING, 10)
            << "refusing replication stream from " << ctx_->peer() << ": "
            << refusal.message();
        Due due;
        {
          absl::MutexLock lock(&mu_);
          read_done_ = true;
          refusal_ = refusal;
          due = NextLocked();
        }
        Run(due);
        return;
      }
      hello_ = true;
      peer_ = in_.hello().address();
    }
    for (const v1::ReplicaRequest& request : in_.requests()) {
      uint64_t id = request.id();
      absl::StatusOr<ReplicaOp> op = FromProto(request);
      if (!op.ok()) {
        service_->malformed++;
        RUMOR_LOG_EVERY_SECONDS(WARNING, 10)
            << "malformed replication request from " << peer_ << ": "
            << op.status().message();
        ReplicaReply r;
        r.status = op.status();
        Complete(id, std::move(r), /*dispatched=*/false);
        continue;
      }
      {
        absl::MutexLock lock(&mu_);
        ++outstanding_;
      }
      service_->handler(std::move(*op), [this, id](ReplicaReply reply) {
        Complete(id, std::move(reply), /*dispatched=*/true);
      });
    }
    in_.Clear();
    bool read_now = true;
    {
      absl::MutexLock lock(&mu_);
      if (OverLimitLocked()) {
        // A peer that sends faster than it reads our replies (or than we
        // answer) waits: reading resumes once half the backlog is gone.
        read_paused_ = true;
        read_now = false;
      }
    }
    if (read_now) StartRead(&in_);
  }

  void OnWriteDone(bool ok) override {
    Due due;
    bool resume = false;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok) {
        write_failed_ = true;
        outbox_.clear();
        queued_bytes_ = 0;
      }
      due = NextLocked();
      // Replies drained by writing can be what lets reading go on (the
      // last request may have been answered while the outbox was full);
      // after a failed write, reading resumes so that it can end.
      if (read_paused_ && (!ok || UnderHalfLimitLocked())) {
        read_paused_ = false;
        resume = true;
      }
    }
    Run(due);
    if (resume) StartRead(&in_);
  }

  void OnDone() override {
    if (service_->Done(this)) delete this;
  }

 private:
  void Complete(uint64_t id, ReplicaReply reply, bool dispatched) {
    v1::ReplicaResponse response;
    ToProto(reply, id, &response);
    Due due;
    bool resume = false;
    {
      absl::MutexLock lock(&mu_);
      if (dispatched) --outstanding_;
      if (!write_failed_) {
        queued_bytes_ += response.ByteSizeLong();
        outbox_.push_back(std::move(response));
      }
      due = NextLocked();
      if (read_paused_ && UnderHalfLimitLocked()) {
        read_paused_ = false;
        resume = true;
      }
    }
    Run(due);
    if (resume) StartRead(&in_);
  }

  // Requests being answered, and reply bytes waiting to be written, above
  // which this stream stops reading (a peer cannot make a node buffer
  // without limit); a frame joins replies up to kFrameBytes (at least one).
  static constexpr int kMaxOutstanding = 1024;
  static constexpr size_t kMaxQueuedBytes = 64 << 20;
  static constexpr size_t kFrameBytes = 16 << 20;
  bool OverLimitLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return outstanding_ >= kMaxOutstanding || queued_bytes_ >= kMaxQueuedBytes;
  }
  bool UnderHalfLimitLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return outstanding_ <= kMaxOutstanding / 2 &&
           queued_bytes_ <= kMaxQueuedBytes / 2;
  }

  // What a change of state makes due, decided under the lock and started
  // after it (Run): the next write (replies waiting, none on the wire) or
  // the Finish (reading has ended and every delivered request is
  // answered).
  struct Due {
    enum { kNone, kWrite, kFinish } action = kNone;
    absl::Status finish;
  };
  Due NextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Due due;
    if (finished_ || writing_) {
      // nothing: OnWriteDone continues
    } else if (!outbox_.empty()) {
      writing_ = true;
      out_.Clear();
      size_t bytes = 0;
      while (!outbox_.empty()) {
        size_t size = outbox_.front().ByteSizeLong();
        if (bytes > 0 && bytes + size > kFrameBytes) break;
        bytes += size;
        queued_bytes_ -= std::min(queued_bytes_, size);
        *out_.add_responses() = std::move(outbox_.front());
        outbox_.pop_front();
      }
      due.action = Due::kWrite;
    } else if (read_done_ && outstanding_ == 0) {
      finished_ = true;
      due.finish = refusal_;
      due.action = Due::kFinish;
    }
    return due;
  }

  void Run(const Due& due) {
    if (due.action == Due::kWrite) StartWrite(&out_);
    if (due.action == Due::kFinish && service_->FinishOrDefer(this, due.finish)) {
      Finish(ToGrpcStatus(due.finish));
    }
  }

 public:
  void FinishNow(const absl::Status& status) { Finish(ToGrpcStatus(status)); }

 private:

  ReplicaService::Impl* service_;
  grpc::CallbackServerContext* ctx_;
  v1::ReplicaFrame in_;  // only the reading reaction touches it
  bool hello_ = false;   // likewise
  std::string peer_;     // likewise

  absl::Mutex mu_;
  // Owned by whoever set writing_ under mu_ (NextLocked fills it, gRPC
  // reads it until OnWriteDone), so it is not guarded by mu_ itself.
  v1::ReplicaFrame out_;
  std::deque<v1::ReplicaResponse> outbox_ ABSL_GUARDED_BY(mu_);
  int outstanding_ ABSL_GUARDED_BY(mu_) = 0;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool write_failed_ ABSL_GUARDED_BY(mu_) = false;
  bool read_done_ ABSL_GUARDED_BY(mu_) = false;
  bool read_paused_ ABSL_GUARDED_BY(mu_) = false;
  size_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status refusal_ ABSL_GUARDED_BY(mu_);
};

// A stream refused before it starts (no certificate from the cluster CA).
class RefusedExchange final
    : public grpc::ServerBidiReactor<v1::ReplicaFrame, v1::ReplicaFrame> {
 public:
  explicit RefusedExchange(grpc::Status status) { Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::ServerBidiReactor<v1::ReplicaFrame, v1::ReplicaFrame>*
ReplicaService::Impl::Exchange(grpc::CallbackServerContext* ctx) {
  if (authorizer != nullptr) {
    absl::Status s = authorizer->Check(*ctx, "replication");
    if (!s.ok()) {
      RUMOR_LOG_EVERY_SECONDS(WARNING, 10)
          << "refused a replication stream from " << ctx->peer() << ": " << s;
      return new RefusedExchange(ToGrpcStatus(s));
    }
  }
  return new ReplicaReceiver(this, ctx);
}

bool ReplicaService::Impl::Done(ReplicaReceiver* r) {
  absl::MutexLock lock(&mu);
  auto it = open.find(r);
  if (it == open.end()) return true;
  if (it->second.pins > 0) {
    it->second.done = true;
    return false;
  }
  open.erase(it);
  return true;
}

bool ReplicaService::Impl::FinishOrDefer(ReplicaReceiver* r,
                                         const absl::Status& status) {
  absl::MutexLock lock(&mu);
  auto it = open.find(r);
  if (it == open.end()) return true;
  it->second.finishing = true;
  if (it->second.pins > 0) {
    it->second.deferred = status;
    return false;
  }
  return true;
}

void ReplicaService::Impl::Unpin(ReplicaReceiver* r) {
  bool remove = false;
  std::optional<absl::Status> finish;
  {
    absl::MutexLock lock(&mu);
    auto it = open.find(r);
    if (it == open.end()) return;
    if (--it->second.pins == 0) {
      finish = std::move(it->second.deferred);
      it->second.deferred.reset();
      if (it->second.done) {
        open.erase(it);
        remove = true;
      }
    }
  }
  if (finish) r->FinishNow(*finish);
  if (remove) delete r;
}

ReplicaService::ReplicaService(
    std::string cluster, Handler handler,
    std::shared_ptr<const PeerAuthorizer> authorizer)
    : impl_(std::make_unique<Impl>()) {
  impl_->cluster = std::move(cluster);
  impl_->handler = std::move(handler);
  impl_->authorizer = std::move(authorizer);
}

ReplicaService::~ReplicaService() = default;

grpc::Service* ReplicaService::service() { return impl_.get(); }

void ReplicaService::Shutdown() {
  std::vector<std::pair<ReplicaReceiver*, grpc::CallbackServerContext*>> pinned;
  {
    absl::MutexLock lock(&impl_->mu);
    impl_->shut_down = true;
    for (auto& [receiver, open] : impl_->open) {
      if (open.done || open.finishing) continue;
      ++open.pins;
      pinned.push_back({receiver, open.ctx});
    }
  }
  for (auto& [receiver, ctx] : pinned) ctx->TryCancel();
  for (auto& [receiver, ctx] : pinned) impl_->Unpin(receiver);
}

uint64_t ReplicaService::malformed_requests() const { return impl_->malformed; }

}  // namespace rumor::server
