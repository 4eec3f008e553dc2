// Transport security of a node: the credentials its one port serves with,
// those it calls peers with, and the check that a caller of the peer
// protocol (gossip, replication, Admin's Leave and Remove) holds a
// certificate from the cluster CA.
//
//   plaintext         no flags: anyone who reaches the port may do anything
//   --peer-ca/-cert/-key  the port speaks TLS. Peers present a certificate
//                     from the cluster CA (--peer-ca) and check each
//                     other's; clients verify the node against that CA and
//                     need no certificate of their own.
//   --tls-cert/-key   the certificate the node serves with, instead of
//                     --peer-cert. Peers verify it too, so it must come
//                     from the cluster CA.
//   --tls-client-ca   mutual TLS for clients: every caller presents a
//                     certificate from this CA (clients) or the cluster CA
//                     (nodes, operators).
//
// Clients and peers share the port, so client TLS needs the peer flags:
// peers must speak TLS to a port that does.
#ifndef RUMOR_SERVER_RPC_TLS_H_
#define RUMOR_SERVER_RPC_TLS_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace grpc {
class ChannelCredentials;
class ServerContextBase;
class ServerCredentials;
}  // namespace grpc

namespace rumor::server {

struct TlsFlags {
  std::string tls_cert, tls_key, tls_client_ca;  // file paths
  std::string peer_ca, peer_cert, peer_key;      // file paths
  bool enabled() const {
    return !peer_ca.empty() || !peer_cert.empty() || !peer_key.empty() ||
           !tls_cert.empty() || !tls_key.empty() || !tls_client_ca.empty();
  }
};

// Checks that a caller presented a certificate issued by the cluster CA.
// Thread-safe.
class PeerAuthorizer {
 public:
  explicit PeerAuthorizer(std::string ca_pem);
  ~PeerAuthorizer();
  PeerAuthorizer(const PeerAuthorizer&) = delete;
  PeerAuthorizer& operator=(const PeerAuthorizer&) = delete;

  // OK when the call's TLS peer certificate chains to the cluster CA.
  // UNAUTHENTICATED without a certificate, PERMISSION_DENIED with one from
  // another CA; `what` names the call in the message.
  absl::Status Check(const grpc::ServerContextBase& ctx,
                     const char* what) const;
  // The same for a PEM certificate (what Check reads from the context).
  absl::Status CheckPem(const std::string& cert_pem, const char* what) const;

 private:
  struct Store;
  std::unique_ptr<Store> store_;
};

// A node's loaded credentials. With !secure(), plaintext everywhere and no
// authorizer.
struct NodeCredentials {
  std::shared_ptr<grpc::ServerCredentials> server;
  std::shared_ptr<grpc::ChannelCredentials> peer_channel;
  std::shared_ptr<const PeerAuthorizer> authorizer;  // null: plaintext
  bool secure() const { return authorizer != nullptr; }
};

// Reads and checks the files: each readable and PEM, keys matching their
// certificates, the served certificate from the cluster CA, no client TLS
// without the peer flags. INVALID_ARGUMENT naming the flag otherwise.
absl::StatusOr<NodeCredentials> LoadNodeCredentials(const TlsFlags& flags);

}  // namespace rumor::server

#endif  // RUMOR_SERVER_RPC_TLS_H_
