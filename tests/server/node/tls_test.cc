// Transport security of in-process nodes: a mutual-TLS cluster replicates
// as a plaintext one does, and callers without the right certificate
// (none at all, one from another CA, an expired one, plaintext, a client
// certificate where a node's is needed) are refused with a clear error and
// change nothing. Certificates come from scripts/make-certs.sh.
#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/client.h"
#include "proto/peer.grpc.pb.h"
#include "gtest/gtest.h"
#include "server/node/node.h"
#include "common/pem.h"
#include "server/rpc/tls.h"
#include "tests/support/temp_dir.h"

namespace rumor::server {
namespace {

using client::Client;
using client::ClientOptions;
using client::CallOptions;

std::string ReadFile(const std::string& path) {
  auto pem = ReadPemFile(path, "test");
  EXPECT_TRUE(pem.ok()) << pem.status();
  return pem.ok() ? *pem : "";
}

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    certs_ = new rumor::testing::TempDir();
    std::string cmd = absl::StrCat("bash ", RUMOR_SOURCE_DIR,
                                   "/scripts/make-certs.sh ", certs_->path(),
                                   " --nodes 4 --test-extras 2>/dev/null");
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
  static void TearDownTestSuite() {
    delete certs_;
    certs_ = nullptr;
  }
  static std::string Cert(const std::string& name) {
    return certs_->path() + "/" + name;
  }

  void TearDown() override {
    clients_.clear();
    for (auto& n : nodes_) {
      if (n) n->Shutdown(absl::Seconds(1));
    }
  }

  // A node of the mutual-TLS cluster: node certificate i+1, clients need
  // a certificate from the client CA.
  NodeOptions Options(int i, const std::string& seed = "") {
    NodeOptions o;
    o.listen = "127.0.0.1:0";
    o.data_dir = dir_.Sub("node" + std::to_string(i));
    o.probe_interval = absl::Milliseconds(100);
    o.request_timeout = absl::Seconds(3);
    o.tls.peer_ca = Cert("ca.pem");
    o.tls.peer_cert = Cert(absl::StrCat("node", i + 1, ".pem"));
    o.tls.peer_key = Cert(absl::StrCat("node", i + 1, ".key"));
    o.tls.tls_client_ca = Cert("client-ca.pem");
    if (!seed.empty()) o.seeds = {seed};
    return o;
  }

  Node* StartNode(NodeOptions o) {
    auto node = Node::Start(o);
    EXPECT_TRUE(node.ok()) << node.status();
    if (!node.ok()) return nullptr;
    nodes_.push_back(std::move(*node));
    return nodes_.back().get();
  }

  void StartCluster(int n) {
    ASSERT_NE(StartNode(Options(0)), nullptr);
    for (int i = 1; i < n; ++i) {
      ASSERT_NE(StartNode(Options(i, nodes_[0]->address())), nullptr);
    }
    WaitAlive(n);
  }

  // A client of `address` presenting `who` (".pem"/".key" base name; empty:
  // no certificate), trusting `ca` (empty: plaintext).
  Client& Connect(const std::string& address, const std::string& who,
                  const std::string& ca = "ca.pem") {
    ClientOptions o;
    o.server = address;
    o.routing = ClientOptions::Routing::kAny;
    o.timeout = absl::Seconds(5);
    if (!ca.empty()) o.tls.ca = ReadFile(Cert(ca));
    if (!who.empty()) {
      o.tls.cert = ReadFile(Cert(who + ".pem"));
      o.tls.key = ReadFile(Cert(who + ".key"));
    }
    auto c = Client::Connect(o);
    EXPECT_TRUE(c.ok()) << c.status();
    clients_.push_back(std::move(*c));
    return *clients_.back();
  }

  // Members node 0 sees alive and serving, by address.
  std::set<std::string> AliveMembers() {
    auto members = Admin().Members();
    std::set<std::string> out;
    if (!members.ok()) return out;
    for (const auto& m : *members) {
      if (m.status == "alive" && !m.joining && m.tokens > 0) {
        out.insert(m.address);
      }
    }
    return out;
  }
  void WaitAlive(size_t n) {
    absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (AliveMembers().size() < n) {
      ASSERT_LT(absl::Now(), deadline)
          << "the TLS cluster did not form: " << AliveMembers().size()
          << " of " << n << " alive";
      absl::SleepFor(absl::Milliseconds(50));
    }
  }
  Client& Admin() {
    if (admin_ == nullptr) admin_ = &Connect(nodes_[0]->address(), "admin");
    return *admin_;
  }

  // For `window`, the members node 0 sees stay exactly `expected` and the
  // intruder's clients are refused: what a node that cannot authenticate
  // may achieve in that time is nothing.
  void ExpectMembersStay(const std::set<std::string>& expected,
                         absl::Duration window) {
    absl::Time end = absl::Now() + window;
    while (absl::Now() < end) {
      auto members = Admin().Members();
      ASSERT_TRUE(members.ok()) << members.status();
      std::set<std::string> seen;
      for (const auto& m : *members) seen.insert(m.address);
      ASSERT_EQ(seen, expected);
      absl::SleepFor(absl::Milliseconds(100));
    }
  }

  static rumor::testing::TempDir* certs_;
  rumor::testing::TempDir dir_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<std::unique_ptr<Client>> clients_;
  Client* admin_ = nullptr;
};

rumor::testing::TempDir* TlsTest::certs_ = nullptr;

TEST_F(TlsTest, AMutualTlsClusterReplicatesNormally) {
  StartCluster(3);
  Client& c0 = Connect(nodes_[0]->address(), "client");
  CallOptions all;
  all.w = 3;
  all.r = 3;
  absl::Status put = c0.Put("tls-key", "over TLS", "", all).status();
  ASSERT_TRUE(put.ok()) << put;
  for (int i = 0; i < 3; ++i) {
    Client& c = Connect(nodes_[i]->address(), "client");
    auto got = c.Get("tls-key", all);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->values, std::vector<std::string>{"over TLS"});
  }
  auto report = Admin().Replicas("tls-key");
  ASSERT_TRUE(report.ok()) << report.status();
  int holders = 0;
  for (const auto& copy : report->copies) holders += copy.holds ? 1 : 0;
  EXPECT_EQ(holders, 3);
}

TEST_F(TlsTest, ClientsWithoutTheRightCertificateAreRefusedAndWriteNothing) {
  StartCluster(1);
  std::string address = nodes_[0]->address();
  struct Case {
    const char* what;
    std::string who, ca;
    const char* hint;
  };
  for (const Case& k : {
           Case{"no client certificate", "", "ca.pem", "--tls-client-ca"},
           Case{"plaintext", "", "", "needs --tls-ca"},
           Case{"a certificate from another CA", "stranger", "ca.pem",
                "--tls-client-ca"},
           Case{"an expired certificate", "expired", "ca.pem",
                "--tls-client-ca"},
           Case{"the wrong CA for the node", "client", "other-ca.pem",
                "is --tls-ca the CA"}}) {
    Client& c = Connect(address, k.who, k.ca);
    absl::Status put = c.Put("intruder", k.what, "").status();
    EXPECT_FALSE(put.ok()) << k.what;
    EXPECT_TRUE(absl::StrContains(put.message(), "cannot reach " + address))
        << k.what << ": " << put;
    EXPECT_TRUE(absl::StrContains(put.message(), k.hint))
        << k.what << ": " << put;
  }
  auto got = Connect(address, "client").Get("intruder");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_FALSE(got->found) << "a refused client wrote";
}

TEST_F(TlsTest, OnlyTheClusterCaMayRemoveOrLeave) {
  StartCluster(2);
  Client& client = Connect(nodes_[0]->address(), "client");
  absl::Status s = client.Remove(nodes_[1]->id());
  EXPECT_TRUE(absl::IsPermissionDenied(s)) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "certificate from the cluster CA"))
      << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "CN=client")) << s;
  s = Connect(nodes_[1]->address(), "client").Leave().status();
  EXPECT_TRUE(absl::IsPermissionDenied(s)) << s;
  EXPECT_FALSE(nodes_[1]->StopRequested());
  EXPECT_EQ(AliveMembers().size(), 2u);
  // An operator's certificate from the cluster CA is authorised: removing
  // a live member is refused for what it is, not for who asks.
  s = Admin().Remove(nodes_[1]->id());
  EXPECT_FALSE(absl::IsPermissionDenied(s)) << s;
  EXPECT_FALSE(absl::IsUnauthenticated(s)) << s;
}

TEST_F(TlsTest, PeersWithoutAClusterCertificateCannotJoin) {
  StartCluster(2);
  std::set<std::string> members = AliveMembers();
  // A plaintext node and a node of another CA (its certificate and its
  // CA) seed themselves at node 0; the handshake refuses both.
  NodeOptions plaintext;
  plaintext.listen = "127.0.0.1:0";
  plaintext.data_dir = dir_.Sub("plaintext");
  plaintext.probe_interval = absl::Milliseconds(100);
  plaintext.seeds = {nodes_[0]->address()};
  NodeOptions stranger = plaintext;
  stranger.data_dir = dir_.Sub("stranger");
  stranger.tls.peer_ca = Cert("other-ca.pem");
  stranger.tls.peer_cert = Cert("stranger.pem");
  stranger.tls.peer_key = Cert("stranger.key");
  Node* a = StartNode(plaintext);
  Node* b = StartNode(stranger);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ExpectMembersStay(members, absl::Seconds(3));
  // Neither learnt the ring: each still refuses clients.
  for (Node* n : {a, b}) {
    ClientOptions o;
    o.server = n->address();
    if (n == b) o.tls.ca = ReadFile(Cert("other-ca.pem"));
    auto c = Client::Connect(o);
    ASSERT_TRUE(c.ok());
    auto h = (*c)->Health();
    ASSERT_TRUE(h.ok()) << h.status();
    EXPECT_EQ(*h, client::ServingStatus::kNotServing) << n->address();
  }
}

// The handshake lets through a client certificate (with --tls-client-ca)
// or no certificate at all (without): the peer services themselves must
// refuse such callers.
struct PeerCalls {
  grpc::Status gossip, exchange;
};
PeerCalls CallPeerServices(const std::string& address,
                           std::shared_ptr<grpc::ChannelCredentials> creds) {
  auto channel = grpc::CreateChannel(address, creds);
  PeerCalls out;
  {
    auto stub = v1::Peer::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::PeerClose close;
    auto writer = stub->Gossip(&ctx, &close);
    writer->WritesDone();
    out.gossip = writer->Finish();
  }
  {
    auto stub = v1::Replica::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    auto stream = stub->Exchange(&ctx);
    stream->WritesDone();
    v1::ReplicaFrame frame;
    while (stream->Read(&frame)) {
    }
    out.exchange = stream->Finish();
  }
  return out;
}

TEST_F(TlsTest, PeerServicesRefuseCallersWithoutAClusterCertificate) {
  StartCluster(1);
  grpc::SslCredentialsOptions client_cert;
  client_cert.pem_root_certs = ReadFile(Cert("ca.pem"));
  client_cert.pem_cert_chain = ReadFile(Cert("client.pem"));
  client_cert.pem_private_key = ReadFile(Cert("client.key"));
  PeerCalls c = CallPeerServices(nodes_[0]->address(),
                                 grpc::SslCredentials(client_cert));
  EXPECT_EQ(c.gossip.error_code(), grpc::StatusCode::PERMISSION_DENIED)
      << c.gossip.error_message();
  EXPECT_TRUE(absl::StartsWith(c.gossip.error_message(), "gossip is only for"))
      << c.gossip.error_message();
  EXPECT_EQ(c.exchange.error_code(), grpc::StatusCode::PERMISSION_DENIED)
      << c.exchange.error_message();
  EXPECT_TRUE(absl::StartsWith(c.exchange.error_message(),
                               "replication is only for"))
      << c.exchange.error_message();
  absl::Status pause = Connect(nodes_[0]->address(), "client").PauseAae(true);
  EXPECT_TRUE(absl::IsPermissionDenied(pause)) << pause;
  // The cluster CA's own certificate sent after the client's (it is
  // public) does not make the caller the CA.
  client_cert.pem_cert_chain =
      ReadFile(Cert("client.pem")) + ReadFile(Cert("ca.pem"));
  c = CallPeerServices(nodes_[0]->address(), grpc::SslCredentials(client_cert));
  EXPECT_EQ(c.gossip.error_code(), grpc::StatusCode::PERMISSION_DENIED)
      << c.gossip.error_message();
  EXPECT_EQ(c.exchange.error_code(), grpc::StatusCode::PERMISSION_DENIED)
      << c.exchange.error_message();

  // A node that lets clients in without certificates (TLS, no
  // --tls-client-ca): a caller without one gets through the handshake,
  // and no further.
  NodeOptions open = Options(1);
  open.tls.tls_client_ca.clear();
  Node* node = StartNode(open);
  ASSERT_NE(node, nullptr);
  grpc::SslCredentialsOptions ca_only;
  ca_only.pem_root_certs = ReadFile(Cert("ca.pem"));
  c = CallPeerServices(node->address(), grpc::SslCredentials(ca_only));
  EXPECT_EQ(c.gossip.error_code(), grpc::StatusCode::UNAUTHENTICATED)
      << c.gossip.error_message();
  EXPECT_EQ(c.exchange.error_code(), grpc::StatusCode::UNAUTHENTICATED)
      << c.exchange.error_message();
  Client& anonymous = Connect(node->address(), "");
  auto got = anonymous.Get("k");  // clients need no certificate here
  ASSERT_TRUE(got.ok()) << got.status();
  for (absl::Status s : {anonymous.Remove(nodes_[0]->id()),
                         anonymous.Leave().status(), anonymous.PauseAae(true),
                         anonymous.Repair(0).status()}) {
    EXPECT_TRUE(absl::IsUnauthenticated(s)) << s;
    EXPECT_TRUE(absl::StrContains(s.message(), "presented none")) << s;
  }
  EXPECT_FALSE(node->StopRequested());
  auto aae = Connect(node->address(), "admin").Aae();
  ASSERT_TRUE(aae.ok()) << aae.status();
  EXPECT_FALSE(aae->paused);
  EXPECT_EQ(AliveMembers().size(), 1u);
}

TEST_F(TlsTest, BadCertificateFlagsStopTheStartNamingTheFlag) {
  struct Case {
    std::function<void(NodeOptions*)> tweak;
    const char* message;
  };
  for (const Case& k : std::vector<Case>{
           {[](NodeOptions* o) { o->tls.peer_key.clear(); },
            "--peer-ca, --peer-cert and --peer-key together"},
           {[](NodeOptions* o) {
              o->tls = {};
              o->tls.tls_cert = Cert("node1.pem");
              o->tls.tls_key = Cert("node1.key");
            },
            "--peer-ca, --peer-cert and --peer-key together"},
           {[](NodeOptions* o) { o->tls.peer_cert = Cert("nope.pem"); },
            "--peer-cert="},
           {[](NodeOptions* o) { o->tls.peer_key = Cert("node2.key"); },
            "--peer-key is not the key of the certificate in --peer-cert"},
           {[](NodeOptions* o) {
              o->tls.peer_cert = Cert("expired.pem");
              o->tls.peer_key = Cert("expired.key");
            },
            "expired on"},
           {[](NodeOptions* o) {
              o->tls.peer_cert = Cert("stranger.pem");
              o->tls.peer_key = Cert("stranger.key");
            },
            "--peer-cert is not issued by --peer-ca"},
           {[](NodeOptions* o) {
              o->tls.tls_cert = Cert("client.pem");
              o->tls.tls_key = Cert("client.key");
            },
            "--tls-cert must be issued by --peer-ca"},
           {[](NodeOptions* o) { o->tls.tls_client_ca = Cert("node1.key"); },
            "--tls-client-ca holds no certificate"}}) {
    NodeOptions o = Options(0);
    k.tweak(&o);
    auto node = Node::Start(o);
    ASSERT_FALSE(node.ok()) << k.message;
    EXPECT_TRUE(absl::IsInvalidArgument(node.status())) << node.status();
    EXPECT_TRUE(absl::StrContains(node.status().message(), k.message))
        << node.status();
  }
}

TEST(PeerAuthorizerTest, AcceptsOnlyCertificatesOfItsCa) {
  rumor::testing::TempDir certs;
  std::string cmd = absl::StrCat("bash ", RUMOR_SOURCE_DIR,
                                 "/scripts/make-certs.sh ", certs.path(),
                                 " --nodes 1 --test-extras 2>/dev/null");
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  auto read = [&](const char* name) {
    return *ReadPemFile(certs.path() + "/" + name, "test");
  };
  PeerAuthorizer auth(read("ca.pem"));
  EXPECT_TRUE(auth.CheckPem(read("node1.pem"), "gossip").ok());
  EXPECT_TRUE(auth.CheckPem(read("admin.pem"), "gossip").ok());
  absl::Status s = auth.CheckPem(read("client.pem"), "gossip");
  EXPECT_TRUE(absl::IsPermissionDenied(s)) << s;
  EXPECT_TRUE(absl::StartsWith(s.message(), "gossip is only for")) << s;
  EXPECT_TRUE(absl::IsPermissionDenied(auth.CheckPem(read("stranger.pem"), "x")));
  EXPECT_TRUE(absl::IsPermissionDenied(auth.CheckPem(read("expired.pem"), "x")));
  EXPECT_TRUE(absl::IsUnauthenticated(auth.CheckPem("", "x")));
  EXPECT_TRUE(absl::IsUnauthenticated(auth.CheckPem("garbage", "x")));
}

}  // namespace
}  // namespace rumor::server
