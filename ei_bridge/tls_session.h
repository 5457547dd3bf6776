// TlsSession: one accepted connection's TLS, as a byte transformer with no
// socket: ciphertext read from the socket goes in (Feed), plaintext comes
// out; plaintext to send goes in (Write), ciphertext to write to the socket
// comes out (TakeOutput). OpenSSL runs on two memory BIOs, so it never
// touches a file descriptor and never blocks: a peer that stalls mid
// handshake costs its own connection a buffer and nothing else.
//
// Ownership: owns its SSL (which owns both BIOs) and shares the TlsContext
// it was made from, so a reload's new context does not affect it.
//
// Thread: the loop thread that owns the connection.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"
#include "ei_bridge/tls_context.h"

namespace hb {

// How a TLS handshake ended, as counted in metrics.
enum class TlsOutcome : uint8_t {
  kOk,
  kNoCertificate,
  kUnknownCa,
  kExpired,
  kNameMismatch,
  kProtocolError,
};
inline constexpr int kTlsOutcomeCount = 6;
// "ok", "no_certificate", "unknown_ca", "expired", "name_mismatch",
// "protocol_error": the metric labels.
const char* TlsOutcomeName(TlsOutcome o);

class TlsSession {
 public:
  static Result<std::unique_ptr<TlsSession>> Accept(std::shared_ptr<const TlsContext> context);
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  // Takes bytes read from the socket and appends what they decrypt to into
  // *plain (nothing while the handshake runs). An error ends the session:
  // the reason is the message, failure_outcome() classifies it, and
  // TakeOutput() may still hold an alert for the peer. kUnavailable: the
  // peer closed TLS (close_notify).
  Status Feed(std::string_view cipher, std::string* plain);
  // Encrypts `plain` (only once handshake_done()).
  Status Write(std::string_view plain);
  // Ciphertext waiting for the socket: handshake messages, records, alerts.
  bool has_output() const;
  std::string TakeOutput();

  bool handshake_done() const { return done_; }
  TlsOutcome failure_outcome() const { return failure_; }
  // "TLSv1.3", "TLS_AES_256_GCM_SHA384" once the handshake is done.
  std::string version() const;
  std::string cipher() const;
  // Whether the client's certificate names `host` (CertificateNamesHost).
  bool PeerNamesHost(const std::string& host) const;
  const TlsContext& context() const { return *context_; }

 private:
  TlsSession(std::shared_ptr<const TlsContext> context, SslPtr ssl, BIO* in, BIO* out)
      : context_(std::move(context)), ssl_(std::move(ssl)), in_(in), out_(out) {}
  Status Handshake();
  Status Fail(int ret, const char* during);

  std::shared_ptr<const TlsContext> context_;
  SslPtr ssl_;
  BIO* in_;   // owned by ssl_
  BIO* out_;  // owned by ssl_
  bool done_ = false;
  TlsOutcome failure_ = TlsOutcome::kProtocolError;
};

}  // namespace hb
