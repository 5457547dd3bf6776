// TlsContext: the server side of TLS distribution (OTP's inet_tls_dist) as
// one immutable OpenSSL SSL_CTX built from plain settings: our certificate
// and key, the CA that signs clients, verification, versions, ciphers, CRL.
//
// Building one checks what a bad deployment gets wrong -- files missing or
// unreadable, a key that is not the certificate's, an expired certificate,
// a CA file without certificates -- and says so in one line naming the file,
// so --check-config and startup refuse it before any peer connects.
//
// Ownership: every OpenSSL object has one RAII owner below. A TlsContext is
// shared (std::shared_ptr<const TlsContext>) by the node, which hands the
// current one to each new connection, and by the connections made with it:
// a SIGHUP reload builds a new one for new connections while existing
// connections keep theirs until they close.
//
// Thread: Create on any thread; a built context is only read afterwards
// (SSL_new on the loop thread).
#pragma once

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <vector>

#include "base/status.h"

namespace hb {

struct SslCtxFree {
  void operator()(SSL_CTX* p) const { SSL_CTX_free(p); }
};
struct SslFree {
  void operator()(SSL* p) const { SSL_free(p); }
};
struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;
using SslPtr = std::unique_ptr<SSL, SslFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;

// What the `tls` configuration object says, as plain values.
struct TlsSettings {
  std::string certfile;    // PEM: our certificate (chain)
  std::string keyfile;     // PEM: its private key; empty: in certfile
  std::string cacertfile;  // PEM: CAs that sign client certificates
  std::string cacertdir;   // or a c_rehash'ed directory of them
  bool verify_peer = true;
  bool fail_if_no_peer_cert = true;
  std::vector<std::string> versions = {"tlsv1.2", "tlsv1.3"};
  // OpenSSL names; TLS_* are TLS 1.3 suites, the rest TLS 1.2 ciphers.
  // Empty: OpenSSL's defaults.
  std::vector<std::string> ciphers;
  std::string crl_file;    // PEM CRLs of the CA; empty: no revocation check
  // A client's certificate must name the host of the node it claims.
  bool node_name_check = false;
};

class TlsContext {
 public:
  // An error names the setting and the file: "certfile /etc/x.pem: ...".
  static Result<std::shared_ptr<const TlsContext>> Create(const TlsSettings& settings);

  SSL_CTX* ctx() const { return ctx_.get(); }
  const TlsSettings& settings() const { return settings_; }

 private:
  TlsContext(SslCtxPtr ctx, TlsSettings settings)
      : ctx_(std::move(ctx)), settings_(std::move(settings)) {}
  SslCtxPtr ctx_;
  TlsSettings settings_;
};

// Whether `cert` names `host`: a DNS subjectAltName equal to it (case
// insensitive, no wildcards), or an IP SAN when `host` is an address; the
// subject CN only when the certificate has no SAN at all.
bool CertificateNamesHost(X509* cert, const std::string& host);

}  // namespace hb
