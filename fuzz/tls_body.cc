// The tls target's body, FuzzTls (format in fuzz_bodies.h): the record-to-
// packet path of a TLS connection as Connection drives it -- ciphertext cut
// into reads, TlsSession::Feed, the plaintext into a PacketReader with the
// 4-byte handshake framing of inet_tls_dist, handshake packets into a
// HandshakeAcceptor, then control packets.
//
// Mode bit 0 clear: the input (after byte 0) is what a connected TLS client
// sends *inside* the session: an in-process OpenSSL client completes the
// handshake with the server session, then writes the input as records. The
// invariant: what the server decrypts is exactly what the client wrote.
// Mode bit 0 set: the input is raw ciphertext from the socket (a hostile
// ClientHello, garbage): no plaintext before a handshake, no crash.
#include <openssl/ssl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>

#include "base/byte_order.h"
#include "ei_bridge/dist_flags.h"
#include "ei_bridge/handshake.h"
#include "ei_bridge/packet_reader.h"
#include "ei_bridge/tls_context.h"
#include "ei_bridge/tls_session.h"
#include "fuzz/fuzz_bodies.h"
#include "fuzz/fuzz_support.h"

namespace hb::fuzz {
namespace {

using internal::CheckControlPacket;
using internal::Guarded;
using internal::Hex;

constexpr uint8_t kTlsRaw = 1;  // the input is ciphertext, not plaintext
// bits 1-2: how ciphertext is cut into reads (1, 5, 300 bytes, or whole);
// bits 3-4: how plaintext is cut into SSL_write calls (1, 13, 1000, whole).

// A PEM file the process keeps open: a memfd, named by /proc/self/fd.
std::string MemFile(const char* name, const std::string& pem) {
  int fd = memfd_create(name, 0);
  (void)!write(fd, pem.data(), pem.size());
  return "/proc/self/fd/" + std::to_string(fd);
}

template <typename T, typename W>
std::string Pem(T* obj, W write) {
  BIO* b = BIO_new(BIO_s_mem());
  write(b, obj);
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(b);
  return out;
}

// One self-signed server certificate for the process; no client
// certificate is asked for (the path under test starts after that).
const std::shared_ptr<const TlsContext>& ServerContext() {
  static const std::shared_ptr<const TlsContext> ctx = [] {
    EVP_PKEY* key = EVP_EC_gen("P-256");
    X509* cert = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), -60);
    X509_gmtime_adj(X509_getm_notAfter(cert), 86400L * 3650);
    X509_set_pubkey(cert, key);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("fuzz"), -1, -1, 0);
    X509_set_issuer_name(cert, X509_get_subject_name(cert));
    X509_sign(cert, key, EVP_sha256());
    TlsSettings s;
    s.certfile = MemFile("hb_fuzz_cert", Pem(cert, [](BIO* b, X509* c) { PEM_write_bio_X509(b, c); }));
    s.keyfile = MemFile("hb_fuzz_key", Pem(key, [](BIO* b, EVP_PKEY* k) {
      PEM_write_bio_PrivateKey(b, k, nullptr, nullptr, 0, nullptr, nullptr);
    }));
    s.verify_peer = false;
    X509_free(cert);
    EVP_PKEY_free(key);
    Result<std::shared_ptr<const TlsContext>> c = TlsContext::Create(s);
    if (!c.ok()) abort();  // the harness itself is broken
    return *c;
  }();
  return ctx;
}

// The daemon's side: decrypted bytes through the framing and the handshake.
struct Receiver {
  PacketReader reader{4, 64u << 20};
  std::unique_ptr<HandshakeAcceptor> hs;
  bool up = false;
  bool closed = false;
  TermLimits limits;

  Receiver() {
    HandshakeConfig cfg;
    cfg.node_name = "gpu@host";
    cfg.cookie = "FUZZCOOKIE";
    cfg.flags = dflag::kOurs;
    hs = std::make_unique<HandshakeAcceptor>(std::move(cfg), 0x5eed1234);
  }

  void Take(const std::string& plain) {
    reader.Append(plain);
    std::string packet;
    while (!closed) {
      Result<bool> got = reader.Next(&packet);
      if (!got.ok()) closed = true;
      if (!got.ok() || !*got) return;
      if (up) {
        if (!packet.empty()) CheckControlPacket(packet, limits);
        continue;
      }
      Result<HandshakeAcceptor::Step> step = hs->OnPacket(packet);
      if (!step.ok() || step->close_after_send) {
        closed = true;
        return;
      }
      up = step->done;
    }
  }
};

size_t Cut(uint8_t bits, const size_t (&sizes)[4], size_t whole) {
  size_t n = sizes[bits & 3];
  return n == 0 ? std::max<size_t>(whole, 1) : n;
}

void FeedServer(TlsSession& server, std::string_view cipher, size_t chunk, Receiver& rx,
                std::string* all_plain) {
  for (size_t at = 0; at < cipher.size() && !rx.closed;) {
    size_t n = std::min(chunk, cipher.size() - at);
    std::string plain;
    Status s = server.Feed(cipher.substr(at, n), &plain);
    at += n;
    FUZZ_CHECK(server.handshake_done() || plain.empty(),
               "plaintext before the TLS handshake: " + Hex(plain));
    all_plain->append(plain);
    rx.Take(plain);
    if (!s.ok()) {
      rx.closed = true;
      return;
    }
  }
}

void FuzzTlsImpl(const uint8_t* data, size_t size) {
  if (size == 0) return;
  const uint8_t mode = data[0];
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  Result<std::unique_ptr<TlsSession>> server = TlsSession::Accept(ServerContext());
  FUZZ_CHECK(server.ok(), "no TLS session");
  const size_t read_cuts[4] = {1, 5, 300, 0};
  const size_t write_cuts[4] = {1, 13, 1000, 0};
  const size_t read_chunk = Cut(mode >> 1, read_cuts, input.size());
  Receiver rx;
  std::string plain;
  if (mode & kTlsRaw) {
    FeedServer(**server, input, read_chunk, rx, &plain);
    return;
  }
  SslCtxPtr cctx(SSL_CTX_new(TLS_client_method()));
  SslPtr client(SSL_new(cctx.get()));
  BIO* cin = BIO_new(BIO_s_mem());
  BIO* cout = BIO_new(BIO_s_mem());
  BIO_set_mem_eof_return(cin, -1);
  SSL_set_bio(client.get(), cin, cout);  // client owns both
  SSL_set_connect_state(client.get());
  auto pending = [](BIO* b) {
    std::string s(BIO_ctrl_pending(b), '\0');
    if (!s.empty()) BIO_read(b, s.data(), static_cast<int>(s.size()));
    return s;
  };
  for (int round = 0; round < 10 && !SSL_is_init_finished(client.get()); ++round) {
    SSL_do_handshake(client.get());
    FeedServer(**server, pending(cout), read_chunk, rx, &plain);
    std::string back = (*server)->TakeOutput();
    BIO_write(cin, back.data(), static_cast<int>(back.size()));
  }
  FUZZ_CHECK(SSL_is_init_finished(client.get()), "TLS handshake with our own client failed");
  const size_t write_chunk = Cut(mode >> 3, write_cuts, input.size());
  for (size_t at = 0; at < input.size() && !rx.closed; at += write_chunk) {
    std::string_view part = input.substr(at, std::min(write_chunk, input.size() - at));
    FUZZ_CHECK(SSL_write(client.get(), part.data(), static_cast<int>(part.size())) ==
                   static_cast<int>(part.size()),
               "client write failed");
    FeedServer(**server, pending(cout), read_chunk, rx, &plain);
  }
  if (!rx.closed) {
    FUZZ_CHECK(plain == input, "decrypted bytes differ from what the client wrote: " +
                                   Hex(plain) + " vs " + Hex(input));
  } else {
    FUZZ_CHECK(input.substr(0, plain.size()) == plain,
               "decrypted bytes are not a prefix of what the client wrote: " + Hex(plain));
  }
}

}  // namespace

void FuzzTls(const uint8_t* data, size_t size) {
  Guarded([&] { FuzzTlsImpl(data, size); });
}

}  // namespace hb::fuzz
