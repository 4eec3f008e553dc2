#include "server/rpc/peer_transport.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <deque>
#include <map>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/log.h"
#include "proto/callback_queue.h"
#include "proto/peer.grpc.pb.h"
#include "server/rpc/grpc_status.h"
#include "server/rpc/peer_codec.h"

namespace rumor::server {

namespace {

class GossipStream;

// Everything about one destination. Links live as long as the transport;
// streams come and go.
struct Link {
  std::string address;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::Peer::Stub> stub;

  absl::Mutex mu;
  GossipStream* stream ABSL_GUARDED_BY(mu) = nullptr;
  bool connecting ABSL_GUARDED_BY(mu) = false;
  bool writing ABSL_GUARDED_BY(mu) = false;
  bool failed ABSL_GUARDED_BY(mu) = false;  // current stream is broken
  bool closing ABSL_GUARDED_BY(mu) = false;  // transport shutting down
  std::deque<v1::PeerFrame> queue ABSL_GUARDED_BY(mu);
  v1::PeerFrame in_flight ABSL_GUARDED_BY(mu);
  absl::Time retry_at ABSL_GUARDED_BY(mu) = absl::InfinitePast();
  absl::Duration backoff ABSL_GUARDED_BY(mu) = absl::ZeroDuration();
  absl::Time last_logged ABSL_GUARDED_BY(mu) = absl::InfinitePast();
  // Of the last send, in Clock nanoseconds: read by the idle sweep, which
  // holds the transport's mutex and so must not take `mu`.
  std::atomic<int64_t> last_used_ns{0};
};

}  // namespace

struct PeerTransport::Impl {
  PeerTransportOptions options;
  absl::Mutex mu;
  // Shared: a sender holds its link while it enqueues, and a stream holds
  // its link until it is deleted, so a link dropped from the map (Forget)
  // lives exactly as long as something still uses it.
  std::map<std::string, std::shared_ptr<Link>> links ABSL_GUARDED_BY(mu);
  bool shut_down ABSL_GUARDED_BY(mu) = false;
  int active_streams ABSL_GUARDED_BY(mu) = 0;
  // Set when streams outlived Shutdown: the destructor must not free what
  // their late callbacks will touch.
  bool leak ABSL_GUARDED_BY(mu) = false;

  absl::Time next_sweep ABSL_GUARDED_BY(mu) = absl::InfinitePast();

  std::atomic<uint64_t> frames_sent{0}, frames_dropped{0}, streams_opened{0},
      stream_failures{0}, links_forgotten{0}, links_expired{0};

  // Returns the link for `address`, made on first use, with its idle
  // timer restarted; and in `expired` the idle links it dropped (the
  // caller closes them outside the lock).
  std::shared_ptr<Link> GetLink(const std::string& address,
                                std::vector<std::shared_ptr<Link>>* expired);
  void Enqueue(const std::shared_ptr<Link>& link, v1::PeerFrame frame);
  // Ends the link's stream and refuses further frames on it.
  void CloseLink(Link* link);
  // Returns whether the caller (OnDone) may delete the stream now.
  bool StreamDone(Link* link, GossipStream* stream, const absl::Status& s);
  // Drops a pin taken under link->mu; deletes the stream if it finished
  // meanwhile.
  void Unpin(Link* link, GossipStream* stream);
  v1::PeerFrame Hello() const {
    v1::PeerFrame f;
    FillHello(options.self, options.self_address, options.cluster,
              f.mutable_hello());
    return f;
  }
};

namespace {

// One client stream. Deletes itself in OnDone. A hold keeps the RPC open
// between writes; it is released exactly once, when the stream breaks or is
// cancelled.
class GossipStream final : public grpc::ClientWriteReactor<v1::PeerFrame> {
 public:
  GossipStream(PeerTransport::Impl* transport, std::shared_ptr<Link> link)
      : transport_(transport), link_(std::move(link)) {}

  // Whoever calls into the stream without holding link->mu (Write, Cancel,
  // ReleaseHoldOnce) pins it first under link->mu: OnDone then leaves the
  // deletion to the last unpin. Both fields are guarded by link->mu.
  int pins = 0;
  bool done = false;

  void Start() {
    link_->stub->async()->Gossip(&ctx_, &close_, this);
    AddHold();
    StartCall();
  }
  void Write(const v1::PeerFrame* frame) { StartWrite(frame); }
  void Cancel() { ctx_.TryCancel(); }
  // Releases the hold if nobody has yet. Returns whether this call did.
  bool ReleaseHoldOnce() {
    bool expected = false;
    if (!hold_released_.compare_exchange_strong(expected, true)) return false;
    RemoveHold();
    return true;
  }

  void OnWriteDone(bool ok) override {
    const v1::PeerFrame* next = nullptr;
    bool release = false;
    {
      absl::MutexLock lock(&link_->mu);
      if (!ok) {
        link_->failed = true;
        link_->writing = false;
        release = true;  // lets OnDone report why
      } else {
        transport_->frames_sent++;
        if (!link_->queue.empty() && !link_->failed && !link_->closing) {
          link_->in_flight = std::move(link_->queue.front());
          link_->queue.pop_front();
          next = &link_->in_flight;
        } else {
          link_->writing = false;
          // Shutdown left the hold to us while this write was in flight.
          release = link_->closing;
        }
      }
    }
    if (next != nullptr) {
      Write(next);
    } else if (release) {
      ReleaseHoldOnce();
    }
  }

  void OnDone(const grpc::Status& s) override {
    if (transport_->StreamDone(link_.get(), this, FromGrpcStatus(s))) {
      delete this;
    }
  }

 private:
  PeerTransport::Impl* transport_;
  std::shared_ptr<Link> link_;  // keeps a forgotten link alive until done
  grpc::ClientContext ctx_;
  v1::PeerClose close_;
  std::atomic<bool> hold_released_{false};
};

}  // namespace

std::shared_ptr<Link> PeerTransport::Impl::GetLink(
    const std::string& address, std::vector<std::shared_ptr<Link>>* expired) {
  absl::Time now = options.clock->Now();
  int64_t now_ns = absl::ToUnixNanos(now);
  absl::MutexLock lock(&mu);
  if (shut_down) return nullptr;
  if (now >= next_sweep) {
    next_sweep = now + options.idle_link_timeout / 10;
    int64_t cutoff = absl::ToUnixNanos(now - options.idle_link_timeout);
    for (auto it = links.begin(); it != links.end();) {
      if (it->first != address &&
          it->second->last_used_ns.load(std::memory_order_relaxed) < cutoff) {
        expired->push_back(std::move(it->second));
        it = links.erase(it);
      } else {
        ++it;
      }
    }
  }
  auto& link = links[address];
  if (!link) {
    link = std::make_shared<Link>();
    link->address = address;
    grpc::ChannelArguments args;
    // Notice a dead TCP connection (a peer that vanished without a FIN)
    // within seconds, not hours.
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
    link->channel = grpc::CreateCustomChannel(
        address,
        options.credentials ? options.credentials
                             : grpc::InsecureChannelCredentials(),
        args);
    link->stub = v1::Peer::NewStub(link->channel);
  }
  link->last_used_ns.store(now_ns, std::memory_order_relaxed);
  return link;
}

void PeerTransport::Impl::Enqueue(const std::shared_ptr<Link>& shared,
                                  v1::PeerFrame frame) {
  Link* link = shared.get();
  GossipStream* start = nullptr;
  GossipStream* write_on = nullptr;  // pinned
  const v1::PeerFrame* write_frame = nullptr;
  absl::Time now = options.clock->Now();
  {
    absl::MutexLock lock(&link->mu);
    if (link->closing) {
      frames_dropped++;
      return;
    }
    if (link->stream == nullptr && !link->connecting) {
      if (now < link->retry_at) {
        frames_dropped++;  // peer down: SWIM copes with the loss
        return;
      }
      link->connecting = true;
      link->failed = false;
      link->queue.clear();
      link->queue.push_back(Hello());
      start = new GossipStream(this, shared);
    }
    if (link->failed) {
      frames_dropped++;
      return;
    }
    if (link->queue.size() >= options.max_queued_frames) {
      link->queue.pop_front();  // keep the newest: old gossip is stale
      frames_dropped++;
    }
    link->queue.push_back(std::move(frame));
    if (link->stream != nullptr && !link->writing) {
      link->writing = true;
      link->in_flight = std::move(link->queue.front());
      link->queue.pop_front();
      write_on = link->stream;
      ++write_on->pins;
      write_frame = &link->in_flight;
    }
  }
  if (start != nullptr) {
    {
      absl::MutexLock lock(&mu);
      ++active_streams;
    }
    streams_opened++;
    start->Start();
    bool cancel = false;
    {
      // Publishing the stream and checking for shutdown (or a Forget or
      // idle expiry of this link) happen in one critical section, so the
      // closer either sees the stream or we see it closed.
      absl::MutexLock lock(&link->mu);
      absl::MutexLock tlock(&mu);
      link->connecting = false;
      if (shut_down || link->closing) {
        cancel = true;
        ++start->pins;
      } else {
        link->stream = start;
        if (!link->writing && !link->queue.empty()) {
          link->writing = true;
          link->in_flight = std::move(link->queue.front());
          link->queue.pop_front();
          write_on = start;
          ++start->pins;
          write_frame = &link->in_flight;
        }
      }
    }
    if (cancel) {
      start->Cancel();
      start->ReleaseHoldOnce();
      Unpin(link, start);
      return;
    }
  }
  if (write_on != nullptr) {
    write_on->Write(write_frame);
    Unpin(link, write_on);
  }
}

void PeerTransport::Impl::Unpin(Link* link, GossipStream* stream) {
  bool remove;
  {
    absl::MutexLock lock(&link->mu);
    remove = --stream->pins == 0 && stream->done;
  }
  if (remove) delete stream;
}

bool PeerTransport::Impl::StreamDone(Link* link, GossipStream* stream,
                                     const absl::Status& s) {
  absl::Time now = options.clock->Now();
  bool deletable;
  {
    absl::MutexLock lock(&link->mu);
    stream->done = true;
    deletable = stream->pins == 0;
    if (link->stream == stream) link->stream = nullptr;
    link->writing = false;
    link->queue.clear();
    if (s.ok()) {
      link->backoff = absl::ZeroDuration();
      link->retry_at = now + options.min_backoff;
    } else {
      stream_failures++;
      link->backoff = std::clamp(link->backoff * 2, options.min_backoff,
                                 options.max_backoff);
      if (absl::IsFailedPrecondition(s)) {
        // The peer refused us (version or cluster mismatch): retrying
        // often will not help.
        link->backoff = std::max(link->backoff, absl::Seconds(30));
      }
      link->retry_at = now + link->backoff;
      if (!absl::IsCancelled(s) &&
          now - link->last_logged >= absl::Seconds(30)) {
        link->last_logged = now;
        if (absl::IsFailedPrecondition(s)) {
          RUMOR_LOG(ERROR) << "peer " << link->address
                           << " refused our stream: " << s.message();
        } else {
          RUMOR_LOG(WARNING) << "stream to peer " << link->address
                             << " failed: " << s.message()
                             << " (retrying with backoff)";
        }
      }
    }
  }
  absl::MutexLock lock(&mu);
  --active_streams;
  return deletable;
}

PeerTransport::PeerTransport(PeerTransportOptions options)
    : impl_(std::make_unique<Impl>()) {
  PinCallbackQueue();  // links come and go: see proto/callback_queue.h
  impl_->options = std::move(options);
}

PeerTransport::~PeerTransport() {
  Shutdown();
  absl::MutexLock lock(&impl_->mu);
  if (impl_->leak) (void)impl_.release();  // safer than a use-after-free
}

void PeerTransport::Send(const std::string& address, Message message) {
  std::vector<std::shared_ptr<Link>> expired;
  std::shared_ptr<Link> link = impl_->GetLink(address, &expired);
  for (const auto& old : expired) {
    impl_->links_expired++;
    impl_->CloseLink(old.get());
  }
  if (link == nullptr) return;  // shut down
  v1::PeerFrame frame;
  ToProto(message, frame.mutable_swim());
  impl_->Enqueue(link, std::move(frame));
}

void PeerTransport::Impl::CloseLink(Link* link) {
  GossipStream* s = nullptr;
  bool writing = false;
  {
    absl::MutexLock lock(&link->mu);
    link->closing = true;  // no write starts after this
    link->retry_at = absl::InfiniteFuture();
    s = link->stream;
    writing = link->writing;
    if (s != nullptr) ++s->pins;
  }
  if (s != nullptr) {
    s->Cancel();
    // With a write in flight its OnWriteDone releases the hold; releasing
    // it here could finish the call under that write.
    if (!writing) s->ReleaseHoldOnce();
    Unpin(link, s);
  }
}

void PeerTransport::Forget(const std::string& address) {
  std::shared_ptr<Link> link;
  {
    absl::MutexLock lock(&impl_->mu);
    auto it = impl_->links.find(address);
    if (it == impl_->links.end()) return;
    link = std::move(it->second);
    impl_->links.erase(it);
  }
  impl_->links_forgotten++;
  impl_->CloseLink(link.get());
}

void PeerTransport::Shutdown() {
  std::vector<std::shared_ptr<Link>> links;
  {
    absl::MutexLock lock(&impl_->mu);
    if (impl_->shut_down && impl_->active_streams == 0) return;
    impl_->shut_down = true;
    for (auto& [addr, link] : impl_->links) links.push_back(link);
  }
  for (const auto& link : links) impl_->CloseLink(link.get());
  absl::MutexLock lock(&impl_->mu);
  if (!impl_->mu.AwaitWithTimeout(
          absl::Condition(
              +[](int* n) { return *n == 0; }, &impl_->active_streams),
          absl::Seconds(10))) {
    RUMOR_LOG(ERROR) << "peer streams did not finish within 10 s of shutdown";
    impl_->leak = true;  // their reactors still point into us
  }
}

PeerTransportStats PeerTransport::stats() const {
  PeerTransportStats s;
  s.frames_sent = impl_->frames_sent;
  s.frames_dropped = impl_->frames_dropped;
  s.streams_opened = impl_->streams_opened;
  s.stream_failures = impl_->stream_failures;
  s.links_forgotten = impl_->links_forgotten;
  s.links_expired = impl_->links_expired;
  absl::MutexLock lock(&impl_->mu);
  s.links = impl_->links.size();
  return s;
}

}  // namespace rumor::server
