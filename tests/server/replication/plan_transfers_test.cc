// PlanTransfers: what each node must send when the serving ring changes.
// Every expectation is computed here from the rings' preference lists
// (which nodes replicate a range before and after), never copied from a
// run: a plan that forgets a sender, a target or a drop fails these.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "server/replication/handoff.h"
#include "server/ring/ring.h"

namespace rumor::server {
namespace {

constexpr uint64_t kMax = ~uint64_t{0};

using NodeSet = std::set<NodeId>;

NodeSet ToSet(const std::vector<NodeId>& v) { return {v.begin(), v.end()}; }

NodeSet Minus(const NodeSet& a, const NodeSet& b) {
  NodeSet out;
  for (NodeId id : a) {
    if (!b.contains(id)) out.insert(id);
  }
  return out;
}

std::string Str(const NodeSet& s) {
  return absl::StrCat("{", absl::StrJoin(s, ","), "}");
}

// One stretch (from, to] between consecutive tokens of both rings: both
// rings' preference lists are constant on it.
struct Span {
  uint64_t from = 0;
  uint64_t to = 0;
  std::string Name() const { return absl::StrCat("(", from, ", ", to, "]"); }
};

std::vector<Span> Spans(const Ring* before, const Ring& after) {
  std::set<uint64_t> tokens;
  for (const Ring* r : {before, &after}) {
    if (r == nullptr) continue;
    for (const auto& [token, node] : r->tokens()) tokens.insert(token);
  }
  std::vector<uint64_t> t(tokens.begin(), tokens.end());
  std::vector<Span> out;
  for (size_t i = 0; i < t.size(); ++i) {
    out.push_back(Span{t[(i + t.size() - 1) % t.size()], t[i]});
  }
  return out;
}

// Whether position p lies in (from, to], wrapping past 2^64 - 1 when
// from >= to (from == to: the whole ring).
bool Covers(const RangeTransfer& t, uint64_t p) {
  if (t.from < t.to) return t.from < p && p <= t.to;
  return p > t.from || p <= t.to;
}

// The one transfer of `plan` covering position p (nullopt: none). Fails
// the test if two transfers overlap there.
std::optional<RangeTransfer> At(const std::vector<RangeTransfer>& plan,
                                uint64_t p) {
  std::optional<RangeTransfer> found;
  for (const RangeTransfer& t : plan) {
    if (!Covers(t, p)) continue;
    EXPECT_FALSE(found.has_value()) << "two transfers cover position " << p;
    found = t;
  }
  return found;
}

// Checks the transfer planned for the whole span (at its first and last
// position): none when `targets` is empty, otherwise exactly these targets
// and this duty.
void ExpectSpan(const std::vector<RangeTransfer>& plan, const Span& s,
                const NodeSet& targets, bool drop_after,
                const std::string& who) {
  for (uint64_t p : {s.from + 1, s.to}) {  // s.from + 1 wraps past kMax
    std::optional<RangeTransfer> t = At(plan, p);
    SCOPED_TRACE(absl::StrCat(who, " span ", s.Name(), " position ", p));
    if (targets.empty()) {
      EXPECT_FALSE(t.has_value())
          << "planned " << Str(ToSet(t->targets)) << ", expected nothing";
      continue;
    }
    ASSERT_TRUE(t.has_value()) << "expected a transfer to " << Str(targets);
    EXPECT_EQ(ToSet(t->targets), targets);
    EXPECT_EQ(t->drop_after, drop_after);
  }
}

// Properties every plan has, whatever the change.
void ExpectWellFormed(NodeId self, const std::vector<RangeTransfer>& plan) {
  for (size_t i = 0; i < plan.size(); ++i) {
    const RangeTransfer& t = plan[i];
    EXPECT_FALSE(t.targets.empty()) << "transfer " << i << " has no target";
    EXPECT_FALSE(ToSet(t.targets).contains(self))
        << "node " << self << " plans a transfer to itself";
    EXPECT_EQ(ToSet(t.targets).size(), t.targets.size()) << "duplicate target";
    if (i + 1 < plan.size()) {
      const RangeTransfer& next = plan[i + 1];
      // Ordered by position; contiguous stretches with the same duty are
      // one transfer (one scan of the store instead of several).
      EXPECT_LE(t.to, next.from) << "transfers " << i << " and " << i + 1;
      EXPECT_FALSE(t.to == next.from && t.targets == next.targets &&
                   t.drop_after == next.drop_after)
          << "transfers " << i << " and " << i + 1 << " were not merged";
    }
  }
}

std::vector<RangeTransfer> Plan(NodeId self, const Ring* before,
                                const Ring& after, size_t n,
                                const std::function<bool(NodeId)>& pulled) {
  std::vector<RangeTransfer> plan =
      PlanTransfers(self, before, after, n, pulled);
  ExpectWellFormed(self, plan);
  return plan;
}

bool NobodyPulled(NodeId) { return false; }

// Four nodes with two tokens each; node 5 joins with two more.
Ring FourNodes() {
  return Ring({{1, {100, 600}}, {2, {200, 700}}, {3, {300, 800}}, {4, {400, 900}}});
}
Ring FourNodesAndFive() {
  return Ring({{1, {100, 600}},
               {2, {200, 700}},
               {3, {300, 800}},
               {4, {400, 900}},
               {5, {250, 850}}});
}

// A join the new node did not pull (it was never seen joining): it must get
// every affected range, and from every old replica, since any one of them
// may die before it has sent. A node pushed out of a range hands it over
// and deletes its copy afterwards.
TEST(PlanTransfersTest, JoinWithoutPullEveryOldReplicaSendsToTheNewNode) {
  const Ring before = FourNodes(), after = FourNodesAndFive();
  const size_t n = 3;
  std::map<NodeId, std::vector<RangeTransfer>> plans;
  for (NodeId self : {1, 2, 3, 4, 5}) {
    plans[self] = Plan(self, &before, after, n, NobodyPulled);
  }
  int affected = 0, pushed_out = 0;
  for (const Span& s : Spans(&before, after)) {
    const NodeSet old = ToSet(before.PreferenceList(s.to, n));
    const NodeSet now = ToSet(after.PreferenceList(s.to, n));
    const NodeSet added = Minus(now, old);
    if (added.contains(5)) ++affected;
    for (NodeId self : {1, 2, 3, 4, 5}) {
      const std::string who = absl::StrCat("node ", self);
      if (old.contains(self) && now.contains(self)) {
        // A keeper sends to every new replica; nothing for unchanged spans.
        ExpectSpan(plans[self], s, added, /*drop_after=*/false, who);
      } else if (old.contains(self)) {
        ++pushed_out;
        ASSERT_FALSE(added.empty()) << "a node left the list, so one joined";
        ExpectSpan(plans[self], s, added, /*drop_after=*/true, who);
      } else if (now.contains(self)) {
        // The new replica itself has nothing of the span to send.
        ExpectSpan(plans[self], s, {}, false, who);
      } else {
        // Neither before nor after: whatever stray copy it holds goes to the
        // new replicas (to every replica when none is new), then is deleted.
        ExpectSpan(plans[self], s, added.empty() ? now : added,
                   /*drop_after=*/true, who);
      }
    }
  }
  // The rings were chosen so that both cases occur.
  EXPECT_GT(affected, 0);
  EXPECT_GT(pushed_out, 0);
  // Said directly: each old replica of a span node 5 joined sends it to 5.
  for (const Span& s : Spans(&before, after)) {
    if (!ToSet(after.PreferenceList(s.to, n)).contains(5) ||
        ToSet(before.PreferenceList(s.to, n)).contains(5)) {
      continue;
    }
    for (NodeId old_replica : before.PreferenceList(s.to, n)) {
      std::optional<RangeTransfer> t = At(plans[old_replica], s.to);
      ASSERT_TRUE(t.has_value()) << "node " << old_replica << " span " << s.Name();
      EXPECT_TRUE(ToSet(t->targets).contains(5))
          << "node " << old_replica << " span " << s.Name();
    }
  }
}

// A join the new node pulled itself while joining: the keepers already
// served its pull, so only the nodes that stop replicating a range send it
// (they must, before they delete their copy: writes may have reached them
// after the pull).
TEST(PlanTransfersTest, JoinWithPullOnlyNodesThatStopReplicatingSend) {
  const Ring before = FourNodes(), after = FourNodesAndFive();
  const size_t n = 3;
  auto pulled = [](NodeId id) { return id == 5; };
  int keeper_checks = 0, leaver_checks = 0;
  for (NodeId self : {1, 2, 3, 4}) {
    std::vector<RangeTransfer> plan = Plan(self, &before, after, n, pulled);
    for (const Span& s : Spans(&before, after)) {
      const NodeSet old = ToSet(before.PreferenceList(s.to, n));
      const NodeSet now = ToSet(after.PreferenceList(s.to, n));
      if (!now.contains(5) || old.contains(5)) continue;
      const std::string who = absl::StrCat("node ", self);
      if (old.contains(self) && now.contains(self)) {
        ++keeper_checks;
        ExpectSpan(plan, s, {}, false, who);  // 5 pulled it: nothing to send
      } else if (old.contains(self)) {
        ++leaver_checks;
        ExpectSpan(plan, s, {5}, /*drop_after=*/true, who);
      }
    }
  }
  EXPECT_GT(keeper_checks, 0);
  EXPECT_GT(leaver_checks, 0);
}

// `pulled` only exempts the node that pulled: another new replica of the
// same range still gets it from the keepers.
TEST(PlanTransfersTest, PullExemptsOnlyTheNodeThatPulled) {
  const Ring before({{1, {100}}, {2, {200}}, {3, {300}}});
  // Two nodes join the same gap; only 4 pulled.
  const Ring after({{1, {100}}, {2, {200}}, {3, {300}}, {4, {150}}, {5, {160}}});
  const size_t n = 3;
  auto pulled = [](NodeId id) { return id == 4; };
  int checked = 0;
  for (NodeId self : {1, 2, 3}) {
    std::vector<RangeTransfer> plan = Plan(self, &before, after, n, pulled);
    for (const Span& s : Spans(&before, after)) {
      const NodeSet old = ToSet(before.PreferenceList(s.to, n));
      const NodeSet now = ToSet(after.PreferenceList(s.to, n));
      if (!old.contains(self) || !now.contains(self)) continue;
      NodeSet expected = Minus(now, old);
      expected.erase(4);
      if (Minus(now, old).contains(4) && Minus(now, old).contains(5)) ++checked;
      ExpectSpan(plan, s, expected, false, absl::StrCat("node ", self));
    }
  }
  EXPECT_GT(checked, 0) << "no span gained both 4 and 5";
}

// A leave or removal: the survivors that held a range send it to the node
// that now replicates it in the departed node's place.
TEST(PlanTransfersTest, LeaveSurvivorsSendToTheNodesThatNewlyReplicate) {
  const Ring before = FourNodesAndFive(), after = FourNodes();  // 5 is gone
  const size_t n = 3;
  int checked = 0;
  for (NodeId self : {1, 2, 3, 4}) {
    std::vector<RangeTransfer> plan = Plan(self, &before, after, n, NobodyPulled);
    for (const Span& s : Spans(&before, after)) {
      const NodeSet old = ToSet(before.PreferenceList(s.to, n));
      const NodeSet now = ToSet(after.PreferenceList(s.to, n));
      const NodeSet added = Minus(now, old);
      const std::string who = absl::StrCat("node ", self);
      // Removing a node pushes nobody out of a list.
      ASSERT_TRUE(Minus(Minus(old, now), {5}).empty()) << s.Name();
      if (old.contains(self)) {
        if (!added.empty()) ++checked;
        ExpectSpan(plan, s, added, /*drop_after=*/false, who);
      } else if (now.contains(self)) {
        ExpectSpan(plan, s, {}, false, who);  // the new replica itself
      } else {
        ExpectSpan(plan, s, added.empty() ? now : added, true, who);
      }
    }
  }
  EXPECT_GT(checked, 0);
}

// Just started (the ring change is unknown): a node hands every range it
// does not replicate to all of the range's replicas and then drops it; the
// ranges it replicates need nothing.
TEST(PlanTransfersTest, UnknownBeforeSendsEveryRangeNotReplicatedToAllReplicas) {
  const Ring after = FourNodesAndFive();
  const size_t n = 2;  // so that each node misses most ranges
  for (NodeId self : {1, 3, 5, 42 /* not in the ring at all */}) {
    std::vector<RangeTransfer> plan = Plan(self, nullptr, after, n, NobodyPulled);
    int sent = 0, kept = 0;
    for (const Span& s : Spans(nullptr, after)) {
      const NodeSet now = ToSet(after.PreferenceList(s.to, n));
      const std::string who = absl::StrCat("node ", self);
      if (now.contains(self)) {
        ++kept;
        ExpectSpan(plan, s, {}, false, who);
      } else {
        ++sent;
        ExpectSpan(plan, s, now, /*drop_after=*/true, who);
      }
    }
    EXPECT_GT(sent, 0) << self;
    if (self != 42) {
      EXPECT_GT(kept, 0) << self;
    }
  }
}

// The range before the first token wraps past 2^64 - 1: positions on both
// sides of the wrap belong to it, and the plan must cover them with one
// transfer whose from > to.
TEST(PlanTransfersTest, RangeWrappingPastTheTopOfTheRingIsOneTransfer) {
  const Ring before({{1, {1000}}, {2, {kMax - 1000}}, {3, {kMax - 500}}});
  // Node 4 joins just past zero: it becomes the first replica of
  // (kMax - 500, 5], which wraps.
  const Ring after({{1, {1000}}, {2, {kMax - 1000}}, {3, {kMax - 500}},
                    {4, {5}}});
  const size_t n = 2;
  // Node 2 replicates that range before ({1, 2}) but not after ({4, 1}):
  // it must hand all of it, on both sides of the wrap, to 4 and drop it.
  for (uint64_t p : {kMax - 499, kMax, uint64_t{0}, uint64_t{5}}) {
    ASSERT_EQ(ToSet(before.PreferenceList(p, n)), (NodeSet{1, 2})) << p;
    ASSERT_EQ(ToSet(after.PreferenceList(p, n)), (NodeSet{1, 4})) << p;
  }
  std::vector<RangeTransfer> plan = Plan(2, &before, after, n, NobodyPulled);
  std::optional<RangeTransfer> wrap = At(plan, kMax);
  ASSERT_TRUE(wrap.has_value());
  EXPECT_GT(wrap->from, wrap->to) << "the transfer does not wrap";
  EXPECT_EQ(ToSet(wrap->targets), (NodeSet{4}));
  EXPECT_TRUE(wrap->drop_after);
  for (uint64_t p : {kMax - 499, kMax, uint64_t{0}, uint64_t{1}, uint64_t{5}}) {
    std::optional<RangeTransfer> t = At(plan, p);
    ASSERT_TRUE(t.has_value()) << p;
    EXPECT_EQ(t->from, wrap->from) << p;
    EXPECT_EQ(t->to, wrap->to) << p;
  }
  EXPECT_FALSE(At(plan, 6).has_value()) << "(5, 1000] did not change";
  // Node 1 keeps the range and sends it to its new replica, 4, without
  // dropping it.
  std::vector<RangeTransfer> plan1 = Plan(1, &before, after, n, NobodyPulled);
  for (uint64_t p : {kMax - 499, kMax, uint64_t{0}, uint64_t{5}}) {
    std::optional<RangeTransfer> t = At(plan1, p);
    ASSERT_TRUE(t.has_value()) << p;
    EXPECT_GT(t->from, t->to) << p;
    EXPECT_EQ(ToSet(t->targets), (NodeSet{4})) << p;
    EXPECT_FALSE(t->drop_after) << p;
  }
  // And every plan agrees with the preference lists span by span.
  for (NodeId self : {1, 2, 3}) {
    std::vector<RangeTransfer> p = Plan(self, &before, after, n, NobodyPulled);
    for (const Span& s : Spans(&before, after)) {
      const NodeSet old = ToSet(before.PreferenceList(s.to, n));
      const NodeSet now = ToSet(after.PreferenceList(s.to, n));
      const NodeSet added = Minus(now, old);
      const std::string who = absl::StrCat("node ", self);
      if (old.contains(self)) {
        ExpectSpan(p, s, added, !now.contains(self), who);
      } else if (!now.contains(self)) {
        ExpectSpan(p, s, added.empty() ? now : added, true, who);
      } else {
        ExpectSpan(p, s, {}, false, who);
      }
    }
  }
}

// Contiguous spans with the same targets and duty are one transfer: with
// every position replicated by the same three nodes, a node outside the
// ring hands off the whole ring in a single scan.
TEST(PlanTransfersTest, ContiguousSpansWithTheSameDutyAreMerged) {
  const Ring after({{1, {100, 200, 300}}, {2, {400, 500}}, {3, {600}}});
  std::vector<RangeTransfer> plan = Plan(9, nullptr, after, 3, NobodyPulled);
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].from, plan[0].to) << "not the whole ring";
  EXPECT_EQ(ToSet(plan[0].targets), (NodeSet{1, 2, 3}));
  EXPECT_TRUE(plan[0].drop_after);
  for (uint64_t p : {uint64_t{0}, uint64_t{150}, uint64_t{600}, kMax}) {
    EXPECT_TRUE(At(plan, p).has_value()) << p;
  }

  // A node that leaves sends each stretch to whoever newly replicates it
  // (to all replicas where nobody is new) and drops it. Consecutive spans
  // with the same duty must come out as one transfer: the expected count
  // is the number of runs of equal duties, span by span from the wrap.
  const Ring before({{1, {100, 200, 300}}, {2, {400, 500}}, {3, {600}},
                     {4, {150, 250}}});
  std::vector<RangeTransfer> leave = Plan(4, &before, after, 3, NobodyPulled);
  size_t runs = 0, spans = 0;
  std::optional<NodeSet> last;
  for (const Span& s : Spans(&before, after)) {
    const NodeSet old = ToSet(before.PreferenceList(s.to, 3));
    const NodeSet now = ToSet(after.PreferenceList(s.to, 3));
    NodeSet duty = Minus(now, old);
    if (duty.empty()) duty = now;
    ++spans;
    if (!last.has_value() || *last != duty) ++runs;
    last = duty;
    ExpectSpan(leave, s, duty, /*drop_after=*/true, "node 4");
  }
  EXPECT_LT(runs, spans) << "the rings give nothing to merge";
  EXPECT_EQ(leave.size(), runs);
}

TEST(PlanTransfersTest, EmptyAfterRingPlansNothing) {
  const Ring before = FourNodes();
  EXPECT_TRUE(PlanTransfers(1, &before, Ring(), 3, NobodyPulled).empty());
}

}  // namespace
}  // namespace rumor::server
