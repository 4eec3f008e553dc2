#include "server/rpc/replica_client.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <deque>
#include <map>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/log.h"
#include "proto/callback_queue.h"
#include "proto/peer.grpc.pb.h"
#include "server/rpc/grpc_status.h"
#include "server/rpc/peer_codec.h"
#include "server/rpc/replica_codec.h"

namespace rumor::server {
namespace {

class ReplicaStream;

// Backoffs and call deadlines are kept on the monotonic clock, so a step
// of the wall clock neither shuts a peer out for the size of the step nor
// expires every call in flight at once. A caller's wall-clock deadline is
// turned into a monotonic one when the call is made.
absl::Time SteadyNow() { return SteadyClock::Get()->Now(); }

struct Pending {
  ReplyCallback done;
  absl::Time deadline;  // monotonic clock
};

// Everything about one destination. Streams come and go; a Conn lives as
// long as the client's map or a stream holds it.
struct Conn {
  std::string address;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::Replica::Stub> stub;

  absl::Mutex mu;
  ReplicaStream* stream ABSL_GUARDED_BY(mu) = nullptr;
  bool closing ABSL_GUARDED_BY(mu) = false;  // forgotten or shut down
  // Calls not yet answered, by id; those not yet on the wire also wait in
  // the outbox.
  std::map<uint64_t, Pending> pending ABSL_GUARDED_BY(mu);
  std::deque<v1::ReplicaRequest> outbox ABSL_GUARDED_BY(mu);
  absl::Time retry_at ABSL_GUARDED_BY(mu) = absl::InfinitePast();
  absl::Duration backoff ABSL_GUARDED_BY(mu) = absl::ZeroDuration();
  bool down ABSL_GUARDED_BY(mu) = false;  // the last stream failed
  std::string last_error ABSL_GUARDED_BY(mu);
  absl::Time last_logged ABSL_GUARDED_BY(mu) = absl::InfinitePast();
};

}  // namespace

struct ReplicaClient::Impl {
  ReplicaClientOptions options;
  absl::Mutex mu;
  std::map<std::string, std::shared_ptr<Conn>> conns ABSL_GUARDED_BY(mu);
  bool shut_down ABSL_GUARDED_BY(mu) = false;
  int active_streams ABSL_GUARDED_BY(mu) = 0;
  bool leak ABSL_GUARDED_BY(mu) = false;  // streams outlived Shutdown
  std::thread sweeper;

  std::atomic<uint64_t> next_id{1}, calls{0}, frames_sent{0}, failed{0},
      timed_out{0}, streams_opened{0};

  std::shared_ptr<Conn> GetConn(const std::string& address);
  // Under conn->mu: moves queued requests, up to the frame budget, into
  // `frame`. False when nothing is queued.
  bool TakeBatch(Conn* conn, v1::ReplicaFrame* frame)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(conn->mu);
  // Ends calls whose deadline has passed.
  void Sweep();
  void SweepLoop();
  void Close(Conn* conn);
  void Unpin(Conn* conn, ReplicaStream* stream);
  static void Fail(std::vector<Pending>& calls, const absl::Status& s) {
    for (Pending& p : calls) {
      ReplicaReply r;
      r.status = s;
      std::move(p.done)(std::move(r));
    }
  }
};

namespace {

// One stream. Deletes itself when done and unpinned. A hold keeps the call
// open until the read side ends; the hold is released only when no write
// is in flight, so a write started while `writing` was set under the lock
// always finds the stream alive.
class ReplicaStream final
    : public grpc::ClientBidiReactor<v1::ReplicaFrame, v1::ReplicaFrame> {
 public:
  ReplicaStream(ReplicaClient::Impl* client, std::shared_ptr<Conn> conn)
      : client_(client), conn_(std::move(conn)) {}

  // Guarded by conn->mu.
  int pins = 0;
  bool done = false;
  bool writing = false;
  bool broken = false;  // the read side ended: nothing more is written

  void Start(v1::ReplicaFrame first) {
    out_ = std::move(first);
    conn_->stub->async()->Exchange(&ctx_, this);
    StartWrite(&out_);
    StartRead(&in_);
    AddHold();
    StartCall();
  }
  // Only by whoever set `writing` under conn->mu.
  void Write(v1::ReplicaFrame frame) {
    out_ = std::move(frame);
    StartWrite(&out_);
  }
  void Cancel() { ctx_.TryCancel(); }

  void OnWriteDone(bool ok) override {
    v1::ReplicaFrame next;
    bool write = false, release = false;
    {
      absl::MutexLock lock(&conn_->mu);
      if (ok) client_->frames_sent++;
      if (ok && !broken && conn_->stream == this &&
          client_->TakeBatch(conn_.get(), &next)) {
        write = true;
      } else {
        writing = false;
        release = broken;
      }
    }
    if (write) {
      Write(std::move(next));
    } else if (release) {
      ReleaseHoldOnce();
    }
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      bool release;
      {
        absl::MutexLock lock(&conn_->mu);
        broken = true;
        release = !writing;
      }
      if (release) ReleaseHoldOnce();
      return;
    }
    std::vector<std::pair<Pending, ReplicaReply>> answered;
    {
      absl::MutexLock lock(&conn_->mu);
      conn_->down = false;
      conn_->backoff = absl::ZeroDuration();
      for (const v1::ReplicaResponse& resp : in_.responses()) {
        auto it = conn_->pending.find(resp.id());
        if (it == conn_->pending.end()) continue;  // timed out already
        answered.push_back({std::move(it->second), FromProto(resp)});
        conn_->pending.erase(it);
      }
    }
    for (auto& [pending, reply] : answered) {
      std::move(pending.done)(std::move(reply));
    }
    StartRead(&in_);
  }

  void OnDone(const grpc::Status& grpc_status) override {
    absl::Status status = FromGrpcStatus(grpc_status);
    std::vector<Pending> orphans;
    bool deletable;
    // Once `done` is set and the lock released, a pinning Close may delete
    // this stream at any moment (its Unpin sees done): from there on only
    // these locals are used.
    ReplicaClient::Impl* const client = client_;
    const std::shared_ptr<Conn> conn = conn_;
    std::string address = conn->address;
    {
      absl::MutexLock lock(&conn->mu);
      done = true;
      deletable = pins == 0;
      if (conn->stream == this) {
        conn->stream = nullptr;
        for (auto& [id, p] : conn->pending) orphans.push_back(std::move(p));
        conn->pending.clear();
        conn->outbox.clear();
      }
      if (!status.ok() && !absl::IsCancelled(status)) {
        absl::Time now = SteadyNow();
        conn->down = true;
        conn->last_error = std::string(status.message());
        conn->backoff =
            std::clamp(conn->backoff * 2, client->options.min_backoff,
                       client->options.max_backoff);
        if (absl::IsFailedPrecondition(status)) {
          // The peer refused us (version or cluster): retrying soon will
          // not help.
          conn->backoff = std::max(conn->backoff, absl::Seconds(30));
        }
        conn->retry_at = now + conn->backoff;
        if (now - conn->last_logged >= absl::Seconds(30)) {
          conn->last_logged = now;
          RUMOR_LOG(WARNING) << "replication stream to " << address
                             << " failed: " << status.message()
                             << " (retrying with backoff)";
        }
      }
    }
    client->failed += orphans.size();
    ReplicaClient::Impl::Fail(
        orphans,
        absl::UnavailableError(absl::StrCat(
            "lost the connection to ", address, ": ",
            status.ok() ? "the node closed it" : status.message())));
    {
      absl::MutexLock lock(&client->mu);
      --client->active_streams;
    }
    if (deletable) delete this;
  }

 private:
  void ReleaseHoldOnce() {
    bool expected = false;
    if (hold_released_.compare_exchange_strong(expected, true)) RemoveHold();
  }

  ReplicaClient::Impl* client_;
  std::shared_ptr<Conn> conn_;
  grpc::ClientContext ctx_;
  v1::ReplicaFrame out_;
  v1::ReplicaFrame in_;
  std::atomic<bool> hold_released_{false};
};

}  // namespace

std::shared_ptr<Conn> ReplicaClient::Impl::GetConn(const std::string& address) {
  absl::MutexLock lock(&mu);
  if (shut_down) return nullptr;
  auto& conn = conns[address];
  if (!conn) {
    conn = std::make_shared<Conn>();
    conn->address = address;
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 5000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
    // gRPC gives a connection attempt at least 20 s by default: one begun
    // during a partition (its SYNs dropped) held the link down for up to
    // 20 s after the partition healed. 2 s is ample within a cluster.
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 2000);
    args.SetMaxReceiveMessageSize(-1);
    // A channel of its own (not shared with gossip): bulk handoff must not
    // delay failure detection.
    args.SetInt("rumor.replica_channel", 1);
    conn->channel = grpc::CreateCustomChannel(
        address,
        options.credentials ? options.credentials
                             : grpc::InsecureChannelCredentials(),
        args);
    conn->stub = v1::Replica::NewStub(conn->channel);
  }
  return conn;
}

bool ReplicaClient::Impl::TakeBatch(Conn* conn, v1::ReplicaFrame* frame) {
  if (conn->outbox.empty()) return false;
  size_t bytes = 0;
  while (!conn->outbox.empty()) {
    size_t size = conn->outbox.front().ByteSizeLong();
    if (bytes > 0 && bytes + size > options.max_frame_bytes) break;
    bytes += size;
    *frame->add_requests() = std::move(conn->outbox.front());
    conn->outbox.pop_front();
  }
  return true;
}

void ReplicaClient::Impl::Sweep() {
  std::vector<std::shared_ptr<Conn>> all;
  {
    absl::MutexLock lock(&mu);
    for (auto& [address, conn] : conns) all.push_back(conn);
  }
  absl::Time now = SteadyNow();
  for (const auto& conn : all) {
    std::vector<Pending> expired;
    {
      absl::MutexLock lock(&conn->mu);
      for (auto it = conn->pending.begin(); it != conn->pending.end();) {
        if (it->second.deadline <= now) {
          expired.push_back(std::move(it->second));
          it = conn->pending.erase(it);
        } else {
          ++it;
        }
      }
    }
    timed_out += expired.size();
    Fail(expired, absl::DeadlineExceededError(absl::StrCat(
                      conn->address, " did not answer in time")));
  }
}

void ReplicaClient::Impl::SweepLoop() {
  while (true) {
    {
      absl::MutexLock lock(&mu);
      if (mu.AwaitWithTimeout(absl::Condition(&shut_down),
                              absl::Milliseconds(10))) {
        return;
      }
    }
    Sweep();
  }
}

void ReplicaClient::Impl::Unpin(Conn* conn, ReplicaStream* stream) {
  bool remove;
  {
    absl::MutexLock lock(&conn->mu);
    remove = --stream->pins == 0 && stream->done;
  }
  if (remove) delete stream;
}

void ReplicaClient::Impl::Close(Conn* conn) {
  ReplicaStream* s = nullptr;
  {
    absl::MutexLock lock(&conn->mu);
    conn->closing = true;
    s = conn->stream;
    if (s != nullptr) ++s->pins;
  }
  if (s != nullptr) {
    s->Cancel();  // OnDone fails its calls
    Unpin(conn, s);
  }
}

ReplicaClient::ReplicaClient(ReplicaClientOptions options)
    : impl_(std::make_unique<Impl>()) {
  PinCallbackQueue();  // see proto/callback_queue.h
  impl_->options = std::move(options);
  impl_->sweeper = std::thread([impl = impl_.get()] { impl->SweepLoop(); });
}

ReplicaClient::~ReplicaClient() {
  Shutdown();
  absl::MutexLock lock(&impl_->mu);
  if (impl_->leak) (void)impl_.release();  // safer than a use-after-free
}

void ReplicaClient::Call(const std::string& address, ReplicaOp op,
                         absl::Time deadline, ReplyCallback done) {
  impl_->calls++;
  std::shared_ptr<Conn> conn = impl_->GetConn(address);
  if (conn == nullptr) {
    ReplicaReply r;
    r.status = absl::UnavailableError("this node is shutting down");
    std::move(done)(std::move(r));
    return;
  }
  uint64_t id = impl_->next_id++;
  v1::ReplicaRequest request;
  ToProto(op, id, &request);
  ReplicaStream* start = nullptr;
  ReplicaStream* write_on = nullptr;
  v1::ReplicaFrame frame;
  absl::Status refused;
  {
    absl::MutexLock lock(&conn->mu);
    absl::Time now = SteadyNow();
    if (conn->closing) {
      refused = absl::UnavailableError(
          absl::StrCat(address, " is no longer a member"));
    } else if (conn->stream == nullptr && now < conn->retry_at) {
      refused = absl::UnavailableError(absl::StrCat(
          "cannot reach ", address, " (", conn->last_error,
          "); retrying in ", absl::FormatDuration(conn->retry_at - now)));
    } else {
      conn->pending[id] =
          Pending{std::move(done), now + (deadline - absl::Now())};
      conn->outbox.push_back(std::move(request));
      if (conn->stream == nullptr) {
        start = new ReplicaStream(impl_.get(), conn);
        start->writing = true;
        conn->stream = start;
        FillHello(impl_->options.self, impl_->options.self_address,
                  impl_->options.cluster, frame.mutable_hello());
        impl_->TakeBatch(conn.get(), &frame);
      } else if (!conn->stream->writing && !conn->stream->broken) {
        conn->stream->writing = true;
        write_on = conn->stream;
        impl_->TakeBatch(conn.get(), &frame);
      }
    }
  }
  if (!refused.ok()) {
    impl_->failed++;
    ReplicaReply r;
    r.status = std::move(refused);
    std::move(done)(std::move(r));
    return;
  }
  if (start != nullptr) {
    {
      absl::MutexLock lock(&impl_->mu);
      ++impl_->active_streams;
    }
    impl_->streams_opened++;
    start->Start(std::move(frame));
  } else if (write_on != nullptr) {
    write_on->Write(std::move(frame));
  }
}

bool ReplicaClient::Reachable(const std::string& address) {
  std::shared_ptr<Conn> conn;
  {
    absl::MutexLock lock(&impl_->mu);
    if (impl_->shut_down) return false;
    auto it = impl_->conns.find(address);
    if (it == impl_->conns.end()) return true;  // never tried: assume so
    conn = it->second;
  }
  absl::MutexLock lock(&conn->mu);
  return !conn->down || SteadyNow() >= conn->retry_at;
}

void ReplicaClient::Forget(const std::string& address) {
  std::shared_ptr<Conn> conn;
  {
    absl::MutexLock lock(&impl_->mu);
    auto it = impl_->conns.find(address);
    if (it == impl_->conns.end()) return;
    conn = std::move(it->second);
    impl_->conns.erase(it);
  }
  impl_->Close(conn.get());
}

void ReplicaClient::Shutdown() {
  std::vector<std::shared_ptr<Conn>> all;
  {
    absl::MutexLock lock(&impl_->mu);
    if (impl_->shut_down && impl_->active_streams == 0) return;
    impl_->shut_down = true;
    for (auto& [address, conn] : impl_->conns) all.push_back(conn);
  }
  if (impl_->sweeper.joinable()) impl_->sweeper.join();
  for (const auto& conn : all) impl_->Close(conn.get());
  absl::MutexLock lock(&impl_->mu);
  if (!impl_->mu.AwaitWithTimeout(
          absl::Condition(
              +[](int* n) { return *n == 0; }, &impl_->active_streams),
          absl::Seconds(10))) {
    RUMOR_LOG(ERROR) << "replication streams did not finish within 10 s of "
                        "shutdown";
    impl_->leak = true;
  }
}

ReplicaClientStats ReplicaClient::stats() const {
  ReplicaClientStats s;
  s.calls = impl_->calls;
  s.frames_sent = impl_->frames_sent;
  s.failed = impl_->failed;
  s.timed_out = impl_->timed_out;
  s.streams_opened = impl_->streams_opened;
  absl::MutexLock lock(&impl_->mu);
  s.links = impl_->conns.size();
  return s;
}

}  // namespace rumor::server
