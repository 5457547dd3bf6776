#include "ei_bridge/tls_context.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace hb {
namespace {

struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

// OpenSSL's reason for the last failure, and the queue emptied so the next
// call on this thread starts clean.
std::string OpenSslError() {
  unsigned long e = ERR_peek_last_error();
  std::string out = e ? ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "unknown error"
                      : "unknown error";
  ERR_clear_error();
  return out;
}

// access(2) first: OpenSSL's own message for a missing file is obscure.
Status Readable(const char* what, const std::string& path) {
  if (access(path.c_str(), R_OK) != 0) {
    return InvalidArgument(std::string(what) + " " + path + ": cannot read: " + strerror(errno));
  }
  return Status::Ok();
}

std::string TimeText(const ASN1_TIME* t) {
  BioPtr b(BIO_new(BIO_s_mem()));
  if (!b || ASN1_TIME_print(b.get(), t) != 1) return "?";
  char* data = nullptr;
  long n = BIO_get_mem_data(b.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

Status LoadIdentity(SSL_CTX* ctx, const TlsSettings& s) {
  if (s.certfile.empty()) return InvalidArgument("certfile: missing");
  HB_RETURN_IF_ERROR(Readable("certfile", s.certfile));
  const std::string& keyfile = s.keyfile.empty() ? s.certfile : s.keyfile;
  HB_RETURN_IF_ERROR(Readable("keyfile", keyfile));
  if (SSL_CTX_use_certificate_chain_file(ctx, s.certfile.c_str()) != 1) {
    return InvalidArgument("certfile " + s.certfile + ": not a PEM certificate: " + OpenSslError());
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, keyfile.c_str(), SSL_FILETYPE_PEM) != 1) {
    // OpenSSL compares the key with the certificate as it loads it.
    int reason = ERR_GET_REASON(ERR_peek_last_error());
    if (reason == X509_R_KEY_VALUES_MISMATCH || reason == X509_R_KEY_TYPE_MISMATCH) {
      ERR_clear_error();
      return InvalidArgument("keyfile " + keyfile + ": does not match the certificate in " +
                             s.certfile);
    }
    return InvalidArgument("keyfile " + keyfile + ": not a usable PEM private key: " +
                           OpenSslError());
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    return InvalidArgument("keyfile " + keyfile + ": does not match the certificate in " +
                           s.certfile);
  }
  X509* cert = SSL_CTX_get0_certificate(ctx);  // owned by ctx
  if (X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0) {
    return InvalidArgument("certfile " + s.certfile + ": certificate expired on " +
                           TimeText(X509_get0_notAfter(cert)));
  }
  if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0) {
    return InvalidArgument("certfile " + s.certfile + ": certificate not valid before " +
                           TimeText(X509_get0_notBefore(cert)));
  }
  return Status::Ok();
}

Status LoadTrust(SSL_CTX* ctx, const TlsSettings& s) {
  if (!s.cacertfile.empty()) HB_RETURN_IF_ERROR(Readable("cacertfile", s.cacertfile));
  if (!s.cacertdir.empty()) HB_RETURN_IF_ERROR(Readable("cacertdir", s.cacertdir));
  if (s.cacertfile.empty() && s.cacertdir.empty()) {
    if (s.verify_peer) return InvalidArgument("verify_peer needs cacertfile or cacertdir");
    return Status::Ok();
  }
  const char* file = s.cacertfile.empty() ? nullptr : s.cacertfile.c_str();
  const char* dir = s.cacertdir.empty() ? nullptr : s.cacertdir.c_str();
  if (SSL_CTX_load_verify_locations(ctx, file, dir) != 1) {
    std::string what = file ? "cacertfile " + s.cacertfile : "cacertdir " + s.cacertdir;
    return InvalidArgument(what + ": no usable CA certificate: " + OpenSslError());
  }
  if (file) {
    // The CAs a client may pick its certificate by (CertificateRequest).
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(file);
    if (names) SSL_CTX_set_client_CA_list(ctx, names);  // takes ownership
    ERR_clear_error();
  }
  if (!s.crl_file.empty()) {
    HB_RETURN_IF_ERROR(Readable("crl_file", s.crl_file));
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    X509_LOOKUP* lookup = X509_STORE_add_lookup(store, X509_LOOKUP_file());
    if (!lookup || X509_load_crl_file(lookup, s.crl_file.c_str(), X509_FILETYPE_PEM) <= 0) {
      return InvalidArgument("crl_file " + s.crl_file + ": no usable PEM CRL: " + OpenSslError());
    }
    X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
  }
  return Status::Ok();
}

Status SetVersions(SSL_CTX* ctx, const TlsSettings& s) {
  int lo = 0, hi = 0;
  for (const std::string& v : s.versions) {
    int n = v == "tlsv1.2" ? TLS1_2_VERSION : v == "tlsv1.3" ? TLS1_3_VERSION : 0;
    if (n == 0) return InvalidArgument("versions: '" + v + "' is not tlsv1.2 or tlsv1.3");
    lo = lo == 0 || n < lo ? n : lo;
    hi = n > hi ? n : hi;
  }
  if (lo == 0) return InvalidArgument("versions: empty");
  SSL_CTX_set_min_proto_version(ctx, lo);
  SSL_CTX_set_max_proto_version(ctx, hi);
  return Status::Ok();
}

Status SetCiphers(SSL_CTX* ctx, const TlsSettings& s) {
  std::string v12, v13;
  for (const std::string& c : s.ciphers) {
    std::string& list = c.rfind("TLS_", 0) == 0 ? v13 : v12;
    list += (list.empty() ? "" : ":") + c;
  }
  if (!v12.empty() && SSL_CTX_set_cipher_list(ctx, v12.c_str()) != 1) {
    return InvalidArgument("ciphers: no usable TLS 1.2 cipher in '" + v12 + "'");
  }
  if (!v13.empty() && SSL_CTX_set_ciphersuites(ctx, v13.c_str()) != 1) {
    return InvalidArgument("ciphers: no usable TLS 1.3 suite in '" + v13 + "'");
  }
  return Status::Ok();
}

}  // namespace

Result<std::shared_ptr<const TlsContext>> TlsContext::Create(const TlsSettings& settings) {
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return Internal("cannot create a TLS context: " + OpenSslError());
  HB_RETURN_IF_ERROR(LoadIdentity(ctx.get(), settings));
  HB_RETURN_IF_ERROR(LoadTrust(ctx.get(), settings));
  HB_RETURN_IF_ERROR(SetVersions(ctx.get(), settings));
  HB_RETURN_IF_ERROR(SetCiphers(ctx.get(), settings));
  int mode = SSL_VERIFY_NONE;
  if (settings.verify_peer) {
    mode = SSL_VERIFY_PEER;
    if (settings.fail_if_no_peer_cert) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  }
  SSL_CTX_set_verify(ctx.get(), mode, nullptr);
  // Clients reconnect rarely and each connection is long-lived: sessions
  // are not resumed, so a reload's new certificates apply to every new
  // connection and no ticket key outlives it.
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(ctx.get(), 0);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
  // Our writes come from a growing buffer that may move between calls.
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  return std::shared_ptr<const TlsContext>(new TlsContext(std::move(ctx), settings));
}

bool CertificateNamesHost(X509* cert, const std::string& host) {
  if (cert == nullptr || host.empty()) return false;
  // inet_tls_dist clients check an IP-named node against DNS SANs such as
  // DNS:127.0.0.1, so an IP host may be named either way.
  bool ip = X509_check_ip_asc(cert, host.c_str(), 0) == 1;
  ERR_clear_error();
  if (ip) return true;
  // X509_check_host looks at DNS SANs and, only when there are none, at
  // the subject CN: the rule the brief and RFC 6125 give.
  bool dns = X509_check_host(cert, host.data(), host.size(), X509_CHECK_FLAG_NO_WILDCARDS,
                             nullptr) == 1;
  ERR_clear_error();
  return dns;
}

}  // namespace hb
