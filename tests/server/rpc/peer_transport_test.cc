// The sending side's bookkeeping: a link (channel, stream, queue) per
// destination, dropped when no member lives there any more.
#include "server/rpc/peer_transport.h"

#include <memory>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "server/node/node.h"
#include "tests/support/temp_dir.h"

namespace rumor::server {
namespace {

Message Gossip(NodeId from, const std::string& from_address, NodeId to) {
  Message m;
  m.type = Message::Type::kGossip;
  m.from = from;
  m.from_address = from_address;
  m.from_incarnation = 1;
  m.to = to;
  return m;
}

TEST(PeerTransportTest, AForgottenAddressLosesItsLinkAndASendReopensIt) {
  rumor::testing::TempDir dir;
  NodeOptions o;
  o.listen = "127.0.0.1:0";
  o.data_dir = dir.Sub("peer");
  auto peer = Node::Start(o);
  ASSERT_TRUE(peer.ok()) << peer.status();
  PeerTransportOptions to;
  to.self = 0x42;
  to.self_address = "127.0.0.1:1";
  PeerTransport transport(to);
  const std::string live = (*peer)->address(), gone = "127.0.0.1:2";
  transport.Send(live, Gossip(0x42, to.self_address, (*peer)->id()));
  transport.Send(gone, Gossip(0x42, to.self_address, 7));
  EXPECT_EQ(transport.stats().links, 2u);
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (transport.stats().frames_sent < 2 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_GE(transport.stats().frames_sent, 2u) << "hello and gossip to the peer";
  transport.Forget(live);  // an open stream is ended
  transport.Forget(gone);  // a link that never connected
  transport.Forget("127.0.0.1:3");  // never known: nothing happens
  EXPECT_EQ(transport.stats().links, 0u);
  EXPECT_EQ(transport.stats().links_forgotten, 2u);
  transport.Send(live, Gossip(0x42, to.self_address, (*peer)->id()));
  EXPECT_EQ(transport.stats().links, 1u) << "a later send reopens";
  transport.Shutdown();
}

// A stranger's ping names a return address we then answer on; with made-up
// addresses that would be a channel each, forever. Links nobody sends to
// for idle_link_timeout are closed, whatever their state.
TEST(PeerTransportTest, IdleLinksExpire) {
  rumor::testing::TempDir dir;
  NodeOptions o;
  o.listen = "127.0.0.1:0";
  o.data_dir = dir.Sub("peer");
  auto peer = Node::Start(o);
  ASSERT_TRUE(peer.ok()) << peer.status();
  ManualClock clock;
  PeerTransportOptions to;
  to.self = 0x42;
  to.self_address = "127.0.0.1:1";
  to.idle_link_timeout = absl::Minutes(5);
  to.clock = &clock;
  PeerTransport transport(to);
  const std::string live = (*peer)->address();
  transport.Send(live, Gossip(0x42, to.self_address, (*peer)->id()));
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (transport.stats().frames_sent < 2 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_GE(transport.stats().frames_sent, 2u) << "hello and gossip to the peer";
  for (int i = 0; i < 50; ++i) {  // never answered (nothing listens)
    transport.Send("127.0.0.2:" + std::to_string(20000 + i),
                   Gossip(0x42, to.self_address, 100 + i));
  }
  EXPECT_EQ(transport.stats().links, 51u);
  clock.Advance(absl::Minutes(3));
  transport.Send(live, Gossip(0x42, to.self_address, (*peer)->id()));
  EXPECT_EQ(transport.stats().links, 51u) << "nothing idle long enough yet";
  clock.Advance(absl::Minutes(3));
  transport.Send(live, Gossip(0x42, to.self_address, (*peer)->id()));
  EXPECT_EQ(transport.stats().links, 1u) << "only the link in use stays";
  EXPECT_EQ(transport.stats().links_expired, 50u);
  uint64_t sent = transport.stats().frames_sent;
  transport.Send(live, Gossip(0x42, to.self_address, (*peer)->id()));
  deadline = absl::Now() + absl::Seconds(10);
  while (transport.stats().frames_sent <= sent && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_GT(transport.stats().frames_sent, sent) << "the live stream still works";
  transport.Shutdown();
}

}  // namespace
}  // namespace rumor::server
