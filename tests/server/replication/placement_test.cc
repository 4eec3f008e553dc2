// PlaceKey: where a write goes given the ring and who is healthy. These are
// the decisions the sloppy quorum rests on: a down replica must get a
// stand-in (or be reported missing so the coordinator keeps the hint), and
// joining members must see every write while they pull.
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/membership/member_meta.h"
#include "server/membership/message.h"
#include "server/replication/cluster_view.h"
#include "server/replication/placement.h"
#include "server/ring/ring.h"

namespace rumor::server {
namespace {

std::string Addr(NodeId id) { return absl::StrCat("node", id, ":7000"); }

MemberState Member(NodeId id, MemberStatus status = MemberStatus::kAlive,
                   bool joining = false) {
  MemberMeta meta;
  meta.address = Addr(id);
  meta.tokens = {id * 100};
  meta.joining = joining;
  return MemberState{id, 1, status, MakeMeta(std::move(meta))};
}

// Nodes 1..count with one token each at id * 100, so the walk from
// position p is simply the ids in ring order from the first token >= p.
std::shared_ptr<const Ring> Ring1To(int count) {
  std::vector<RingMember> members;
  for (int i = 1; i <= count; ++i) {
    members.push_back({NodeId(i), {uint64_t(i) * 100}});
  }
  return std::make_shared<const Ring>(members);
}

bool AllReachable(const std::string&) { return true; }

std::vector<NodeId> Nodes(const std::vector<Target>& targets) {
  std::vector<NodeId> out;
  for (const Target& t : targets) out.push_back(t.node);
  return out;
}

// A target by node (fails the test when absent).
Target Find(const std::vector<Target>& targets, NodeId node) {
  for (const Target& t : targets) {
    if (t.node == node) return t;
  }
  ADD_FAILURE() << "no target for node " << node;
  return {};
}

std::vector<MemberState> Alive(int count) {
  std::vector<MemberState> out;
  for (int i = 1; i <= count; ++i) out.push_back(Member(i));
  return out;
}

TEST(PlaceKeyTest, HealthyPreferenceListTargetsTheOtherReplicas) {
  auto view = MakeClusterView(1, Ring1To(5), 1, Alive(5));
  // Position 50 belongs to token 100 (node 1): list 1, 2, 3.
  Placement p = PlaceKey(*view, 50, 3, AllReachable);
  EXPECT_EQ(p.n, 3u);
  EXPECT_EQ(p.full_n, 3u);
  EXPECT_EQ(p.preference, (std::vector<NodeId>{1, 2, 3}));
  EXPECT_TRUE(p.self_is_replica);
  EXPECT_EQ(Nodes(p.targets), (std::vector<NodeId>{2, 3}));
  for (const Target& t : p.targets) {
    EXPECT_EQ(t.address, Addr(t.node));
    EXPECT_EQ(t.hint_for, kNoNode) << "a healthy replica is no stand-in";
  }
  EXPECT_TRUE(p.missing.empty());
  EXPECT_TRUE(p.joining.empty());

  // Position 150 belongs to node 2: this node is no replica, all three are
  // targets.
  p = PlaceKey(*view, 150, 3, AllReachable);
  EXPECT_EQ(p.preference, (std::vector<NodeId>{2, 3, 4}));
  EXPECT_FALSE(p.self_is_replica);
  EXPECT_EQ(Nodes(p.targets), (std::vector<NodeId>{2, 3, 4}));
}

TEST(PlaceKeyTest, NIsCappedAtTheNodesInTheRing) {
  auto view = MakeClusterView(1, Ring1To(2), 1, Alive(2));
  Placement p = PlaceKey(*view, 50, 3, AllReachable);
  EXPECT_EQ(p.n, 2u);
  EXPECT_EQ(p.preference, (std::vector<NodeId>{1, 2}));
}

// Suspect, Dead and Left members, and members the transport cannot reach,
// are all down: the next healthy node past the preference list holds the
// write as a hint for them.
TEST(PlaceKeyTest, DownReplicaGetsTheNextHealthyNodeAsFallback) {
  struct Case {
    std::string name;
    MemberStatus status;
    bool reachable;
  };
  for (const Case& c : std::vector<Case>{
           {"suspect", MemberStatus::kSuspect, true},
           {"dead", MemberStatus::kDead, true},
           {"left", MemberStatus::kLeft, true},
           {"unreachable", MemberStatus::kAlive, false},
       }) {
    SCOPED_TRACE(c.name);
    std::vector<MemberState> members = Alive(5);
    members[1] = Member(2, c.status);
    auto view = MakeClusterView(1, Ring1To(5), 1, members);
    auto reachable = [&](const std::string& a) {
      return c.reachable || a != Addr(2);
    };
    Placement p = PlaceKey(*view, 50, 3, reachable);
    EXPECT_EQ(p.preference, (std::vector<NodeId>{1, 2, 3}))
        << "a down node keeps its place in the preference list";
    EXPECT_EQ(Nodes(p.targets), (std::vector<NodeId>{4, 3}));
    Target fallback = Find(p.targets, 4);
    EXPECT_EQ(fallback.hint_for, 2u);
    EXPECT_EQ(fallback.address, Addr(4));
    EXPECT_EQ(Find(p.targets, 3).hint_for, kNoNode);
    EXPECT_TRUE(p.missing.empty());
  }
}

// Each down replica gets its own stand-in, in ring order, skipping nodes
// that are down themselves.
TEST(PlaceKeyTest, FallbacksAreDistinctAndSkipDownNodes) {
  std::vector<MemberState> members = Alive(6);
  members[1] = Member(2, MemberStatus::kDead);
  members[2] = Member(3, MemberStatus::kSuspect);
  members[3] = Member(4, MemberStatus::kDead);  // the first node past the list
  auto view = MakeClusterView(1, Ring1To(6), 1, members);
  Placement p = PlaceKey(*view, 50, 3, AllReachable);
  ASSERT_EQ(p.targets.size(), 2u);
  EXPECT_EQ(Find(p.targets, 5).hint_for, 2u);
  EXPECT_EQ(Find(p.targets, 6).hint_for, 3u);
  EXPECT_TRUE(p.missing.empty());
}

// With no healthy node past the preference list (a cluster of N nodes),
// the down replica is missing: the coordinator keeps the hint itself and
// does not count it toward W.
TEST(PlaceKeyTest, DownReplicaWithNoNodePastTheListIsMissing) {
  std::vector<MemberState> members = Alive(3);
  members[1] = Member(2, MemberStatus::kDead);
  auto view = MakeClusterView(1, Ring1To(3), 1, members);
  Placement p = PlaceKey(*view, 50, 3, AllReachable);
  EXPECT_EQ(Nodes(p.targets), (std::vector<NodeId>{3}));
  EXPECT_EQ(p.missing, (std::vector<NodeId>{2}));

  // Past the list there are nodes, but all of them are down.
  members = Alive(5);
  members[1] = Member(2, MemberStatus::kDead);
  members[3] = Member(4, MemberStatus::kDead);
  members[4] = Member(5, MemberStatus::kSuspect);
  view = MakeClusterView(1, Ring1To(5), 1, members);
  p = PlaceKey(*view, 50, 3, AllReachable);
  EXPECT_EQ(Nodes(p.targets), (std::vector<NodeId>{3}));
  EXPECT_EQ(p.missing, (std::vector<NodeId>{2}));
}

// This node never stands in for a key it does not replicate (it would hold
// the only extra copy as a hint of its own): the walk skips it.
TEST(PlaceKeyTest, SelfIsNeverAFallback) {
  std::vector<MemberState> members = Alive(5);
  members[1] = Member(2, MemberStatus::kDead);
  members[2] = Member(3, MemberStatus::kDead);
  auto view = MakeClusterView(1, Ring1To(5), 1, members);
  // Position 150: list 2, 3, 4; past it 5, then 1 (self).
  Placement p = PlaceKey(*view, 150, 3, AllReachable);
  EXPECT_FALSE(p.self_is_replica);
  EXPECT_EQ(Find(p.targets, 5).hint_for, 2u);
  EXPECT_EQ(p.missing, (std::vector<NodeId>{3}));
  for (const Target& t : p.targets) EXPECT_NE(t.node, 1u);
}

// Hinted handoff off: a down replica simply misses the write.
TEST(PlaceKeyTest, WithoutFallbacksADownReplicaIsMissing) {
  std::vector<MemberState> members = Alive(5);
  members[1] = Member(2, MemberStatus::kDead);
  auto view = MakeClusterView(1, Ring1To(5), 1, members);
  Placement p = PlaceKey(*view, 50, 3, AllReachable, /*fallbacks=*/false);
  EXPECT_EQ(Nodes(p.targets), (std::vector<NodeId>{3}));
  EXPECT_EQ(p.missing, (std::vector<NodeId>{2}));
}

// A node that has not claimed tokens yet serves everything itself.
TEST(PlaceKeyTest, EmptyServingRingPlacesOnSelfAlone) {
  auto view = MakeClusterView(7, nullptr, 0, {});
  Placement p = PlaceKey(*view, 12345, 3, AllReachable);
  EXPECT_EQ(p.preference, (std::vector<NodeId>{7}));
  EXPECT_TRUE(p.self_is_replica);
  EXPECT_EQ(p.n, 1u);
  EXPECT_EQ(p.full_n, 1u);
  EXPECT_TRUE(p.targets.empty());
  EXPECT_TRUE(p.missing.empty());
  EXPECT_TRUE(p.joining.empty());
}

// A cluster forming: node 1 serves alone, 2 and 3 have claimed tokens and
// are pulling. Writes must reach them (they miss nothing while they pull),
// and full_n says how many copies the cluster can make.
TEST(PlaceKeyTest, JoiningMembersOfTheFullPreferenceListGetTheWrite) {
  auto serving = std::make_shared<const Ring>(std::vector<RingMember>{{1, {100}}});
  auto full = Ring1To(3);
  std::vector<MemberState> members = {Member(1), Member(2, MemberStatus::kAlive, true),
                                      Member(3, MemberStatus::kAlive, true)};
  auto view = MakeClusterView(1, serving, 1, members, true, full);
  ASSERT_TRUE(view->Find(2)->joining);
  Placement p = PlaceKey(*view, 50, 3, AllReachable);
  EXPECT_EQ(p.n, 1u);
  EXPECT_EQ(p.full_n, 3u);
  EXPECT_EQ(p.preference, (std::vector<NodeId>{1}));
  EXPECT_TRUE(p.targets.empty()) << "joining members serve no quorum";
  EXPECT_EQ(Nodes(p.joining), (std::vector<NodeId>{2, 3}));
  for (const Target& t : p.joining) {
    EXPECT_EQ(t.address, Addr(t.node));
    EXPECT_EQ(t.hint_for, kNoNode);
  }

  // The same on a node without tokens yet (an empty serving ring).
  auto alone = MakeClusterView(1, nullptr, 1, members, true, full);
  p = PlaceKey(*alone, 50, 3, AllReachable);
  EXPECT_EQ(p.preference, (std::vector<NodeId>{1}));
  EXPECT_EQ(p.full_n, 3u);
  EXPECT_EQ(Nodes(p.joining), (std::vector<NodeId>{2, 3}));
}

// Three joiners at once. The first to finish serves in the serving ring
// plus itself, where it may replicate keys it does not replicate in the
// full ring: it gets those writes as well (it pulls those ranges too).
TEST(PlaceKeyTest, AJoinerGetsTheWritesOfTheRingItMayServeInFirst) {
  // Serving: 2, 3, 4, 5. Joining: 6 at 150, 7 at 160, 8 at 250.
  auto serving = std::make_shared<const Ring>(std::vector<RingMember>{
      {2, {200}}, {3, {300}}, {4, {400}}, {5, {500}}});
  auto full = std::make_shared<const Ring>(std::vector<RingMember>{
      {2, {200}}, {3, {300}}, {4, {400}}, {5, {500}}, {6, {150}},
      {7, {160}}, {8, {250}}});
  std::vector<MemberState> members = {
      Member(2), Member(3), Member(4), Member(5),
      Member(6, MemberStatus::kAlive, true),
      Member(7, MemberStatus::kAlive, true),
      Member(8, MemberStatus::kAlive, true)};
  auto view = MakeClusterView(2, serving, 1, members, true, full);
  ASSERT_EQ(view->joiner_rings.size(), 3u);
  // Position 120: the full list is 6, 7, 2; with only 8 joined it would be
  // 2, 8, 3.
  Placement p = PlaceKey(*view, 120, 3, AllReachable);
  EXPECT_EQ(p.preference, (std::vector<NodeId>{2, 3, 4}));
  EXPECT_EQ(Nodes(p.joining), (std::vector<NodeId>{6, 7, 8}));
  // Position 320: the full list is 4, 5, 6; with only 7 joined, 4, 5, 7;
  // with only 8 joined, 4, 5, 2: 8 would hold it in no ring.
  p = PlaceKey(*view, 320, 3, AllReachable);
  EXPECT_EQ(Nodes(p.joining), (std::vector<NodeId>{6, 7}));
}

TEST(PlaceKeyTest, OnlyHealthyJoiningMembersOfTheKeysListAndNeverSelf) {
  // Serving: 2, 3, 4, 5. Joining: 1 (this node) at 150, 6 at 250, 7 at 650.
  auto serving = std::make_shared<const Ring>(std::vector<RingMember>{
      {2, {200}}, {3, {300}}, {4, {400}}, {5, {500}}});
  auto full = std::make_shared<const Ring>(std::vector<RingMember>{
      {1, {150}}, {2, {200}}, {3, {300}}, {4, {400}}, {5, {500}},
      {6, {250}}, {7, {650}}});
  std::vector<MemberState> members = {
      Member(1, MemberStatus::kAlive, true), Member(2), Member(3), Member(4),
      Member(5), Member(6, MemberStatus::kAlive, true),
      Member(7, MemberStatus::kAlive, true)};
  auto view = MakeClusterView(1, serving, 1, members, true, full);

  // Position 120: full list 1, 2, 6 (serving list 2, 3, 4). Self is
  // joining but never its own target; 2 is a serving replica already.
  Placement p = PlaceKey(*view, 120, 3, AllReachable);
  EXPECT_EQ(p.preference, (std::vector<NodeId>{2, 3, 4}));
  EXPECT_EQ(Nodes(p.joining), (std::vector<NodeId>{6}));
  EXPECT_EQ(p.full_n, 3u);
  for (const Target& t : p.joining) EXPECT_NE(t.node, 1u);

  // Position 350: full list 4, 5, 7 — 7 is the one joining member of it.
  // Joining member 6 is not in this key's list and gets nothing.
  p = PlaceKey(*view, 350, 3, AllReachable);
  EXPECT_EQ(Nodes(p.joining), (std::vector<NodeId>{7}));

  // A joining member that is down or unreachable is skipped.
  p = PlaceKey(*view, 350, 3,
               [](const std::string& a) { return a != Addr(7); });
  EXPECT_TRUE(p.joining.empty());
  members[6] = Member(7, MemberStatus::kSuspect, true);
  auto suspect = MakeClusterView(1, serving, 1, members, true, full);
  p = PlaceKey(*suspect, 350, 3, AllReachable);
  EXPECT_TRUE(p.joining.empty());
  EXPECT_EQ(p.full_n, 3u) << "full_n counts the list, healthy or not";
}

}  // namespace
}  // namespace rumor::server
