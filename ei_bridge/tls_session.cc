#include "ei_bridge/tls_session.h"

#include <openssl/err.h>

#include <algorithm>

namespace hb {
namespace {

// The verify result of a failed handshake, as the outcome operators see.
TlsOutcome FromVerifyResult(long v) {
  switch (v) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return TlsOutcome::kExpired;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
      return TlsOutcome::kUnknownCa;
    default:
      return TlsOutcome::kProtocolError;
  }
}

}  // namespace

const char* TlsOutcomeName(TlsOutcome o) {
  switch (o) {
    case TlsOutcome::kOk: return "ok";
    case TlsOutcome::kNoCertificate: return "no_certificate";
    case TlsOutcome::kUnknownCa: return "unknown_ca";
    case TlsOutcome::kExpired: return "expired";
    case TlsOutcome::kNameMismatch: return "name_mismatch";
    case TlsOutcome::kProtocolError: return "protocol_error";
  }
  return "protocol_error";
}

Result<std::unique_ptr<TlsSession>> TlsSession::Accept(std::shared_ptr<const TlsContext> context) {
  SslPtr ssl(SSL_new(context->ctx()));
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  if (!ssl || !in || !out) {
    BIO_free(in);
    BIO_free(out);
    ERR_clear_error();
    return Internal("cannot create a TLS session (out of memory)");
  }
  // An empty input BIO means "more to come", not end of file.
  BIO_set_mem_eof_return(in, -1);
  SSL_set_bio(ssl.get(), in, out);  // ssl owns both from here
  SSL_set_accept_state(ssl.get());
  return std::unique_ptr<TlsSession>(new TlsSession(std::move(context), std::move(ssl), in, out));
}

Status TlsSession::Fail(int ret, const char* during) {
  int err = SSL_get_error(ssl_.get(), ret);
  unsigned long e = ERR_peek_error();
  std::string reason = e ? (ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "error")
                         : (err == SSL_ERROR_ZERO_RETURN ? "closed by peer" : "protocol error");
  long verify = SSL_get_verify_result(ssl_.get());
  if (!done_) {
    if (ERR_GET_REASON(e) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
      failure_ = TlsOutcome::kNoCertificate;
    } else if (verify != X509_V_OK) {
      failure_ = FromVerifyResult(verify);
      reason += std::string(" (") + X509_verify_cert_error_string(verify) + ")";
    }
  }
  ERR_clear_error();
  if (err == SSL_ERROR_ZERO_RETURN) return Unavailable("TLS closed by peer");
  return InvalidArgument(std::string("TLS ") + during + " failed: " + reason);
}

Status TlsSession::Handshake() {
  int r = SSL_do_handshake(ssl_.get());
  if (r == 1) {
    done_ = true;
    return Status::Ok();
  }
  int err = SSL_get_error(ssl_.get(), r);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return Status::Ok();
  return Fail(r, "handshake");
}

Status TlsSession::Feed(std::string_view cipher, std::string* plain) {
  if (!cipher.empty() &&
      BIO_write(in_, cipher.data(), static_cast<int>(cipher.size())) != static_cast<int>(cipher.size())) {
    return Internal("TLS input buffer: out of memory");
  }
  if (!done_) {
    HB_RETURN_IF_ERROR(Handshake());
    if (!done_) return Status::Ok();
  }
  char buf[16 * 1024];
  for (;;) {
    int n = SSL_read(ssl_.get(), buf, sizeof(buf));
    if (n > 0) {
      plain->append(buf, static_cast<size_t>(n));
      continue;
    }
    int err = SSL_get_error(ssl_.get(), n);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return Status::Ok();
    return Fail(n, "read");
  }
}

Status TlsSession::Write(std::string_view plain) {
  if (!done_) return Internal("TLS write before the handshake finished");
  // A memory BIO takes everything: SSL_write never wants the socket, and
  // without partial writes it writes all of `plain`, record by record.
  while (!plain.empty()) {
    int chunk = static_cast<int>(std::min<size_t>(plain.size(), 1 << 30));
    int n = SSL_write(ssl_.get(), plain.data(), chunk);
    if (n <= 0) return Fail(n, "write");
    plain.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

bool TlsSession::has_output() const { return BIO_ctrl_pending(out_) > 0; }

std::string TlsSession::TakeOutput() {
  std::string out;
  size_t pending = BIO_ctrl_pending(out_);
  if (pending == 0) return out;
  out.resize(pending);
  int n = BIO_read(out_, out.data(), static_cast<int>(pending));
  out.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return out;
}

std::string TlsSession::version() const { return done_ ? SSL_get_version(ssl_.get()) : ""; }

std::string TlsSession::cipher() const {
  const char* c = done_ ? SSL_get_cipher_name(ssl_.get()) : nullptr;
  return c ? c : "";
}

bool TlsSession::PeerNamesHost(const std::string& host) const {
  X509Ptr cert(SSL_get1_peer_certificate(ssl_.get()));
  return CertificateNamesHost(cert.get(), host);
}

}  // namespace hb
