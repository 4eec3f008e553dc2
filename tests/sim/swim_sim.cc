#include "tests/sim/swim_sim.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/hash.h"
#include "server/ring/token_claim.h"

namespace rumor::sim {
namespace {

constexpr uint8_t kUnknown = 255;

}  // namespace

struct Simulation::Event {
  absl::Time at;
  uint64_t seq = 0;
  int node = 0;
  bool tick = false;
  uint64_t gen = 0;
  int from = -1;
  Message msg;
};

class Simulation::NodeTransport final : public server::Transport {
 public:
  NodeTransport(Simulation* sim, int index) : sim_(sim), index_(index) {}
  void Send(const std::string& address, Message m) override {
    links.insert(address);
    sim_->Deliver(index_, address, std::move(m));
  }
  void Forget(const std::string& address) override { links.erase(address); }

  // Destinations this node has sent to and not forgotten: what a real
  // transport would keep a channel for.
  std::set<std::string> links;

 private:
  Simulation* sim_;
  int index_;
};

Simulation::Simulation(SimOptions options)
    : options_(std::move(options)), rng_(options_.seed) {
  start_ = absl::UnixEpoch() + absl::Hours(24);
  now_ = start_;
  nodes_.reserve(options_.nodes + 64);
  for (int i = 0; i < options_.nodes; ++i) MakeNode(i);
  // Slow nodes are chosen once, from the seed.
  int slow = static_cast<int>(options_.slow_fraction * options_.nodes + 0.5);
  std::vector<int> order(options_.nodes);
  for (int i = 0; i < options_.nodes; ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng_);
  for (int k = 0; k < slow; ++k) nodes_[order[k]].slow = true;
}

Simulation::~Simulation() = default;

Simulation::Node& Simulation::MakeNode(int index) {
  nodes_.emplace_back();
  Node& n = nodes_.back();
  n.id = Mix64(options_.seed * 1000003 + static_cast<uint64_t>(index)) | 1;
  n.address = absl::StrCat("n", index);
  n.transport = std::make_unique<NodeTransport>(this, index);
  index_of_[n.id] = index;
  n.core = MakeCore(index, now_);
  for (size_t k = 0; k < watched_.size(); ++k) {
    n.last_seen.push_back(kUnknown);
  }
  return n;
}

std::unique_ptr<Membership> Simulation::MakeCore(int index, absl::Time now) {
  Node& n = nodes_[index];
  MembershipConfig c = options_.base;
  c.self = n.id;
  c.meta.address = n.address;
  c.meta.tokens = options_.tokens_per_node > 0
                      ? server::RandomTokens(n.id, options_.tokens_per_node)
                      : std::vector<uint64_t>{};
  c.incarnation = n.incarnation;
  c.seed = Mix64(options_.seed ^ Mix64(n.id + n.incarnation));
  return std::make_unique<Membership>(c, n.transport.get(), now);
}

void Simulation::BootstrapConverged() {
  std::vector<server::MemberState> all;
  for (const Node& n : nodes_) all.push_back(n.core->Self());
  for (int i = 0; i < size(); ++i) {
    nodes_[i].core->RestoreMembers(all, now_);
    nodes_[i].core->Join({}, now_);
    ScheduleTick(i);
  }
}

void Simulation::BootstrapByJoining() {
  nodes_[0].core->Join({}, now_);
  ScheduleTick(0);
  for (int i = 1; i < size(); ++i) {
    nodes_[i].core->Join({nodes_[0].address}, now_);
    ScheduleTick(i);
  }
}

int Simulation::AddNode(int seed_index) {
  int index = size();
  MakeNode(index);
  nodes_[index].core->Join({nodes_[seed_index].address}, now_);
  ScheduleTick(index);
  AfterEvent(index);
  return index;
}

void Simulation::Crash(int i) {
  Node& n = nodes_[i];
  if (n.crashed) return;
  n.crashed = true;
  ++n.tick_gen;  // cancels its pending tick
  n.tick_at = absl::InfiniteFuture();
  for (size_t k = 0; k < watched_.size(); ++k) {
    if (n.last_seen[k] != kUnknown && watched_[k] != i) {
      --counts_[k][n.last_seen[k]];
    }
    n.last_seen[k] = kUnknown;
  }
}

void Simulation::Restart(int i, int seed_index) {
  Node& n = nodes_[i];
  if (!n.crashed) return;
  n.retired_messages += n.core->stats().messages_sent;
  n.retired_bytes += n.core->stats().bytes_sent;
  n.retired_push_pull_bytes += n.core->stats().push_pull_bytes_sent;
  // A restarted node persisted its incarnation; it comes back higher.
  n.incarnation = n.core->incarnation() + 1;
  n.crashed = false;
  n.busy_until = n.paused_until = absl::InfinitePast();
  n.core = MakeCore(i, now_);
  n.core->Join({nodes_[seed_index].address}, now_);
  ScheduleTick(i);
  AfterEvent(i);
}

void Simulation::Pause(int i, absl::Duration d) {
  nodes_[i].paused_until = now_ + d;
}

void Simulation::SetSlow(int i, bool slow) { nodes_[i].slow = slow; }

void Simulation::Partition(const std::set<int>& from, const std::set<int>& to) {
  for (int a : from) {
    for (int b : to) blocked_.insert({a, b});
  }
}

void Simulation::Heal() { blocked_.clear(); }

size_t Simulation::Links(int i) const { return nodes_[i].transport->links.size(); }

int Simulation::LiveCount() const {
  int n = 0;
  for (const Node& node : nodes_) n += node.crashed ? 0 : 1;
  return n;
}

bool Simulation::Sees(int observer, int subject, MemberStatus status) const {
  const server::MemberState* s = nodes_[observer].core->Find(nodes_[subject].id);
  return s != nullptr && s->status == status;
}

int Simulation::Watch(int subject) {
  int k = static_cast<int>(watched_.size());
  watched_.push_back(subject);
  counts_.push_back({0, 0, 0, 0});
  for (int i = 0; i < size(); ++i) {
    Node& n = nodes_[i];
    uint8_t st = kUnknown;
    if (!n.crashed && i != subject) {
      const server::MemberState* s = n.core->Find(nodes_[subject].id);
      if (s != nullptr) {
        st = static_cast<uint8_t>(s->status);
        ++counts_[k][st];
      }
    }
    n.last_seen.push_back(st);
  }
  return k;
}

bool Simulation::AllSee(int subject, MemberStatus status) const {
  for (size_t k = 0; k < watched_.size(); ++k) {
    if (watched_[k] != subject) continue;
    int others = LiveCount() - (nodes_[subject].crashed ? 0 : 1);
    return counts_[k][static_cast<int>(status)] == others;
  }
  for (int i = 0; i < size(); ++i) {
    if (i == subject || nodes_[i].crashed) continue;
    if (!Sees(i, subject, status)) return false;
  }
  return true;
}

uint64_t Simulation::messages_sent() const {
  uint64_t n = 0;
  for (const Node& node : nodes_) {
    n += node.retired_messages + node.core->stats().messages_sent;
  }
  return n;
}

uint64_t Simulation::bytes_sent() const {
  uint64_t n = 0;
  for (const Node& node : nodes_) {
    n += node.retired_bytes + node.core->stats().bytes_sent;
  }
  return n;
}

uint64_t Simulation::push_pull_bytes_sent() const {
  uint64_t n = 0;
  for (const Node& node : nodes_) {
    n += node.retired_push_pull_bytes + node.core->stats().push_pull_bytes_sent;
  }
  return n;
}

// ---------------------------------------------------------------------------
// Event loop

void Simulation::Push(Event e) {
  e.seq = next_event_seq_++;
  heap_.push_back(std::move(e));
  std::push_heap(heap_.begin(), heap_.end(), [](const Event& a, const Event& b) {
    return a.at != b.at ? a.at > b.at : a.seq > b.seq;
  });
}

absl::Time Simulation::ProcessingTime(int i, absl::Time t) {
  Node& n = nodes_[i];
  t = std::max(t, n.paused_until);
  if (n.slow) {
    // Each event waits a random extra delay, in arrival order. The delays
    // do not accumulate into a backlog: the node is slow, not stopped.
    std::exponential_distribution<double> delay(
        1.0 / absl::ToDoubleSeconds(options_.slow_mean_delay));
    t = std::max(t + absl::Seconds(delay(rng_)), n.busy_until);
    n.busy_until = t;
  }
  return t;
}

void Simulation::Deliver(int from, const std::string& address, Message m) {
  if (dead_hook_) {
    for (const auto& u : m.updates) {
      if (u.kind != MemberStatus::kDead) continue;
      auto it = index_of_.find(u.node);
      if (it != index_of_.end() && !nodes_[it->second].crashed) dead_hook_(u.node);
    }
  }
  int to;
  if (address.size() < 2 || address[0] != 'n' ||
      !absl::SimpleAtoi(address.substr(1), &to) || to < 0 || to >= size()) {
    ++dropped_;
    return;
  }
  std::uniform_real_distribution<double> u01(0.0, 1.0);
  if (options_.loss > 0 && u01(rng_) < options_.loss) {
    ++dropped_;
    return;
  }
  if (!blocked_.empty() && blocked_.count({from, to})) {
    ++dropped_;
    return;
  }
  std::uniform_int_distribution<int64_t> lat(
      absl::ToInt64Microseconds(options_.min_latency),
      absl::ToInt64Microseconds(options_.max_latency));
  Event e;
  e.at = ProcessingTime(to, now_ + absl::Microseconds(lat(rng_)));
  e.node = to;
  e.from = from;
  e.msg = std::move(m);
  Push(std::move(e));
}

void Simulation::ScheduleTick(int i) {
  Node& n = nodes_[i];
  if (n.crashed) return;
  absl::Time due = n.core->NextDeadline();
  if (due == n.tick_at) return;  // already scheduled for that deadline
  n.tick_at = due;
  ++n.tick_gen;
  absl::Time at = std::max(due, n.paused_until);
  Event e;
  e.at = at;
  e.node = i;
  e.tick = true;
  e.gen = n.tick_gen;
  Push(std::move(e));
}

void Simulation::AfterEvent(int i) {
  ScheduleTick(i);
  Node& n = nodes_[i];
  // As the membership runner does: drop the links of forgotten members.
  for (const std::string& address : n.core->TakeForgottenAddresses()) {
    n.transport->Forget(address);
  }
  for (size_t k = 0; k < watched_.size(); ++k) {
    int subject = watched_[k];
    if (subject == i) continue;
    const server::MemberState* s = n.core->Find(nodes_[subject].id);
    uint8_t st = s ? static_cast<uint8_t>(s->status) : kUnknown;
    if (st == n.last_seen[k]) continue;
    if (n.last_seen[k] != kUnknown) --counts_[k][n.last_seen[k]];
    if (st != kUnknown) ++counts_[k][st];
    n.last_seen[k] = st;
    if (observer_ && st != kUnknown) {
      observer_(i, nodes_[subject].id, static_cast<MemberStatus>(st), now_);
    }
  }
}

void Simulation::RunOne() {
  std::pop_heap(heap_.begin(), heap_.end(), [](const Event& a, const Event& b) {
    return a.at != b.at ? a.at > b.at : a.seq > b.seq;
  });
  Event e = std::move(heap_.back());
  heap_.pop_back();
  now_ = std::max(now_, e.at);
  Node& n = nodes_[e.node];
  if (n.crashed) return;
  if (e.tick) {
    if (e.gen != n.tick_gen) return;  // superseded
    if (now_ < n.paused_until) {
      n.tick_at = absl::InfiniteFuture();
      ScheduleTick(e.node);
      return;
    }
    n.tick_at = absl::InfiniteFuture();
    n.core->Tick(now_);
    if (n.core->NextDeadline() <= now_) {
      // A timer that does not move after firing would spin forever.
      std::fprintf(stderr, "swim_sim: node %d's deadline did not advance past %s\n",
                   e.node, absl::FormatTime(now_).c_str());
      std::abort();
    }
  } else {
    if (now_ < n.paused_until) {
      e.at = n.paused_until;
      Push(std::move(e));
      return;
    }
    ++delivered_;
    n.core->HandleMessage(e.msg, now_);
  }
  AfterEvent(e.node);
}

void Simulation::RunUntil(absl::Time t) {
  while (!heap_.empty() && heap_.front().at <= t) RunOne();
  now_ = std::max(now_, t);
}

bool Simulation::RunUntilTrue(const std::function<bool()>& pred,
                              absl::Duration limit) {
  absl::Time end = now_ + limit;
  if (pred()) return true;
  while (!heap_.empty() && heap_.front().at <= end) {
    RunOne();
    if (pred()) return true;
  }
  now_ = std::max(now_, end);
  return pred();
}

}  // namespace rumor::sim
