#include "server/rpc/tls.h"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/pem.h"

namespace rumor::server {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct StoreCtxFree {
  void operator()(X509_STORE_CTX* c) const { X509_STORE_CTX_free(c); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;

std::unique_ptr<BIO, BioFree> MemBio(const std::string& pem) {
  return std::unique_ptr<BIO, BioFree>(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// Every certificate in `pem`, in order.
std::vector<X509Ptr> ParseCerts(const std::string& pem) {
  std::vector<X509Ptr> out;
  auto bio = MemBio(pem);
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    out.emplace_back(x);
  }
  return out;
}

std::string Subject(X509* cert) {
  char buf[512];
  X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof(buf));
  return buf;
}

// The certificate's end of validity, as OpenSSL prints it.
std::string NotAfter(X509* cert) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  ASN1_TIME_print(bio.get(), X509_get0_notAfter(cert));
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

}  // namespace

struct PeerAuthorizer::Store {
  X509_STORE* store = nullptr;
  ~Store() {
    if (store != nullptr) X509_STORE_free(store);
  }
};

PeerAuthorizer::PeerAuthorizer(std::string ca_pem)
    : store_(std::make_unique<Store>()) {
  store_->store = X509_STORE_new();
  for (X509Ptr& ca : ParseCerts(ca_pem)) {
    X509_STORE_add_cert(store_->store, ca.get());
  }
}

PeerAuthorizer::~PeerAuthorizer() = default;

absl::Status PeerAuthorizer::CheckPem(const std::string& cert_pem,
                                      const char* what) const {
  std::vector<X509Ptr> chain = ParseCerts(cert_pem);
  if (chain.empty()) {
    return absl::UnauthenticatedError(absl::StrCat(
        what, " needs a certificate from the cluster CA (--peer-cert)"));
  }
  std::unique_ptr<X509_STORE_CTX, StoreCtxFree> ctx(X509_STORE_CTX_new());
  STACK_OF(X509)* untrusted = sk_X509_new_null();
  for (size_t i = 1; i < chain.size(); ++i) sk_X509_push(untrusted, chain[i].get());
  bool ok = X509_STORE_CTX_init(ctx.get(), store_->store, chain[0].get(),
                                untrusted) == 1 &&
            X509_verify_cert(ctx.get()) == 1;
  int err = ok ? X509_V_OK : X509_STORE_CTX_get_error(ctx.get());
  sk_X509_free(untrusted);
  if (ok) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(
      what, " is only for nodes and operators with a certificate from the "
      "cluster CA; the caller's certificate (", Subject(chain[0].get()),
      ") is not: ", X509_verify_cert_error_string(err)));
}

absl::Status PeerAuthorizer::Check(const grpc::ServerContextBase& ctx,
                                   const char* what) const {
  std::shared_ptr<const grpc::AuthContext> auth = ctx.auth_context();
  // The caller's own certificate is what is checked. The rest of what it
  // sent (on the server side gRPC's chain property holds the certificates
  // after the caller's) may only serve as intermediates: never as the
  // certificate checked, or a client could send its own certificate
  // followed by the public cluster CA and pass as that CA.
  std::vector<grpc::string_ref> leaf, chain;
  if (auth) {
    leaf = auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
    chain = auth->FindPropertyValues(GRPC_X509_PEM_CERT_CHAIN_PROPERTY_NAME);
  }
  if (leaf.empty() || leaf[0].empty()) {
    return absl::UnauthenticatedError(absl::StrCat(
        what, " needs a certificate from the cluster CA; the caller "
        "presented none"));
  }
  std::string pem(leaf[0].data(), leaf[0].size());
  if (!chain.empty()) {
    absl::StrAppend(&pem, "\n",
                    absl::string_view(chain[0].data(), chain[0].size()));
  }
  return CheckPem(pem, what);
}

namespace {

// The first certificate of `pem`, checked to be in its validity period.
absl::StatusOr<X509Ptr> LeafCert(const std::string& pem, const char* flag) {
  std::vector<X509Ptr> certs = ParseCerts(pem);
  if (certs.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " holds no certificate"));
  }
  X509* cert = certs[0].get();
  if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": the certificate (", Subject(cert),
                     ") expired on ", NotAfter(cert)));
  }
  if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        flag, ": the certificate (", Subject(cert), ") is not valid yet"));
  }
  return std::move(certs[0]);
}

absl::Status KeyMatches(X509* cert, const std::string& key_pem,
                        const char* cert_flag, const char* key_flag) {
  auto bio = MemBio(key_pem);
  std::unique_ptr<EVP_PKEY, KeyFree> key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(key_flag, " holds no private key (or an encrypted one)"));
  }
  if (X509_check_private_key(cert, key.get()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        key_flag, " is not the key of the certificate in ", cert_flag));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<NodeCredentials> LoadNodeCredentials(const TlsFlags& f) {
  NodeCredentials out;
  if (!f.enabled()) {
    out.server = grpc::InsecureServerCredentials();
    out.peer_channel = grpc::InsecureChannelCredentials();
    return out;
  }
  if (f.peer_ca.empty() || f.peer_cert.empty() || f.peer_key.empty()) {
    return absl::InvalidArgumentError(
        "TLS needs --peer-ca, --peer-cert and --peer-key together: clients "
        "and peers share the node's port, so when it speaks TLS peers must "
        "too, with certificates from the cluster CA");
  }
  if (f.tls_cert.empty() != f.tls_key.empty()) {
    return absl::InvalidArgumentError(
        "--tls-cert and --tls-key go together");
  }
  std::string ca, cert, key, client_ca;
  {
    absl::StatusOr<std::string> r = ReadPemFile(f.peer_ca, "--peer-ca");
    if (!r.ok()) return r.status();
    ca = std::move(*r);
    if (ParseCerts(ca).empty()) {
      return absl::InvalidArgumentError("--peer-ca holds no certificate");
    }
  }
  auto authorizer = std::make_shared<PeerAuthorizer>(ca);
  std::string peer_cert, peer_key;
  for (auto [path, flag, dest] :
       {std::tuple{&f.peer_cert, "--peer-cert", &peer_cert},
        std::tuple{&f.peer_key, "--peer-key", &peer_key}}) {
    absl::StatusOr<std::string> r = ReadPemFile(*path, flag);
    if (!r.ok()) return r.status();
    *dest = std::move(*r);
  }
  {
    absl::StatusOr<X509Ptr> leaf = LeafCert(peer_cert, "--peer-cert");
    if (!leaf.ok()) return leaf.status();
    absl::Status s = KeyMatches(leaf->get(), peer_key, "--peer-cert",
                                "--peer-key");
    if (!s.ok()) return s;
    s = authorizer->CheckPem(peer_cert, "--peer-cert");
    if (!s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--peer-cert is not issued by --peer-ca: ", s.message()));
    }
  }
  cert = peer_cert;
  key = peer_key;
  if (!f.tls_cert.empty()) {
    absl::StatusOr<std::string> c = ReadPemFile(f.tls_cert, "--tls-cert");
    if (!c.ok()) return c.status();
    absl::StatusOr<std::string> k = ReadPemFile(f.tls_key, "--tls-key");
    if (!k.ok()) return k.status();
    absl::StatusOr<X509Ptr> leaf = LeafCert(*c, "--tls-cert");
    if (!leaf.ok()) return leaf.status();
    absl::Status s = KeyMatches(leaf->get(), *k, "--tls-cert", "--tls-key");
    if (!s.ok()) return s;
    if (!authorizer->CheckPem(*c, "--tls-cert").ok()) {
      return absl::InvalidArgumentError(
          "--tls-cert must be issued by --peer-ca: peers verify the "
          "certificate a node serves with against the cluster CA");
    }
    cert = std::move(*c);
    key = std::move(*k);
  }
  grpc::SslServerCredentialsOptions so(
      GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  so.pem_root_certs = ca;
  if (!f.tls_client_ca.empty()) {
    absl::StatusOr<std::string> r =
        ReadPemFile(f.tls_client_ca, "--tls-client-ca");
    if (!r.ok()) return r.status();
    if (ParseCerts(*r).empty()) {
      return absl::InvalidArgumentError(
          "--tls-client-ca holds no certificate");
    }
    // Mutual TLS: every caller proves who it is, clients with the client
    // CA's certificates and nodes (and operators) with the cluster CA's.
    so.client_certificate_request =
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
    so.pem_root_certs = absl::StrCat(*r, "\n", ca);
  }
  so.pem_key_cert_pairs.push_back({key, cert});
  out.server = grpc::SslServerCredentials(so);
  grpc::SslCredentialsOptions co;
  co.pem_root_certs = ca;
  co.pem_private_key = peer_key;
  co.pem_cert_chain = peer_cert;
  out.peer_channel = grpc::SslCredentials(co);
  out.authorizer = std::move(authorizer);
  return out;
}

}  // namespace rumor::server
