#include "ei_bridge/tls_context.h"

#include <catch2/catch.hpp>

#include "ei_bridge/tls_session.h"
#include "tests/ei_bridge/tls_test_pki.h"

namespace hb {
namespace {

using testing::TestPki;

TlsSettings ServerSettings(const TestPki& pki) {
  TlsSettings s;
  s.certfile = pki.pem("server");
  s.keyfile = pki.key("server");
  s.cacertfile = pki.ca_pem;
  return s;
}

std::string Error(const TlsSettings& s) {
  auto r = TlsContext::Create(s);
  return r.ok() ? "" : r.status().message();
}

TEST_CASE("tls context: a good certificate and key and CA build", "[tls]") {
  TestPki pki;
  pki.Leaf("server", "DNS:server.test");
  CHECK(Error(ServerSettings(pki)).empty());
}

TEST_CASE("tls context refuses missing files, naming them", "[tls]") {
  TestPki pki;
  pki.Leaf("server", "DNS:server.test");
  TlsSettings s = ServerSettings(pki);
  s.certfile = pki.dir + "/nope.pem";
  CHECK(Error(s) == "certfile " + s.certfile + ": cannot read: No such file or directory");
  s = ServerSettings(pki);
  s.keyfile = pki.dir + "/nope.key";
  CHECK(Error(s).rfind("keyfile " + s.keyfile + ": cannot read", 0) == 0);
  s = ServerSettings(pki);
  s.cacertfile = pki.dir + "/nope-ca.pem";
  CHECK(Error(s).rfind("cacertfile " + s.cacertfile + ": cannot read", 0) == 0);
  s = ServerSettings(pki);
  s.crl_file = pki.dir + "/nope.crl";
  CHECK(Error(s).rfind("crl_file " + s.crl_file + ": cannot read", 0) == 0);
}

TEST_CASE("tls context refuses a file that is not PEM", "[tls]") {
  TestPki pki;
  pki.Leaf("server", "DNS:server.test");
  TlsSettings s = ServerSettings(pki);
  s.certfile = pki.key("server");  // a key, not a certificate
  CHECK(Error(s).rfind("certfile " + s.certfile + ": not a PEM certificate", 0) == 0);
  s = ServerSettings(pki);
  s.cacertfile = pki.key("server");
  CHECK(Error(s).rfind("cacertfile " + s.cacertfile + ": no usable CA certificate", 0) == 0);
}

TEST_CASE("tls context refuses a key that is not the certificate's", "[tls]") {
  TestPki pki;
  pki.Leaf("server", "DNS:server.test");
  pki.Leaf("other", "DNS:server.test");
  TlsSettings s = ServerSettings(pki);
  s.keyfile = pki.key("other");
  CHECK(Error(s) == "keyfile " + s.keyfile + ": does not match the certificate in " + s.certfile);
}

TEST_CASE("tls context refuses an expired or not yet valid certificate", "[tls]") {
  TestPki pki;
  pki.Leaf("server", "DNS:server.test", -7200, -3600);
  std::string e = Error(ServerSettings(pki));
  CHECK(e.rfind("certfile " + pki.pem("server") + ": certificate expired on ", 0) == 0);
  pki.Leaf("server", "DNS:server.test", 3600, 7200);
  CHECK(Error(ServerSettings(pki)).find("not valid before") != std::string::npos);
}

TEST_CASE("tls context: verify_peer needs a CA, versions and ciphers are checked", "[tls]") {
  TestPki pki;
  pki.Leaf("server", "DNS:server.test");
  TlsSettings s = ServerSettings(pki);
  s.cacertfile.clear();
  CHECK(Error(s) == "verify_peer needs cacertfile or cacertdir");
  s.verify_peer = false;
  CHECK(Error(s).empty());
  s = ServerSettings(pki);
  s.versions = {"tlsv1.1"};
  CHECK(Error(s) == "versions: 'tlsv1.1' is not tlsv1.2 or tlsv1.3");
  s.versions = {"tlsv1.3"};
  s.ciphers = {"NOT-A-CIPHER"};
  CHECK(Error(s).rfind("ciphers: no usable TLS 1.2 cipher", 0) == 0);
  s.ciphers = {"TLS_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256"};
  CHECK(Error(s).empty());
}

TEST_CASE("tls certificate names a host by DNS SAN or IP SAN or CN only without SAN", "[tls]") {
  auto key = testing::NewKey();
  auto dns = testing::MakeCert(key.get(), "cn.test", "DNS:web.test", nullptr, nullptr, 0, 60, false);
  CHECK(CertificateNamesHost(dns.get(), "web.test"));
  CHECK(CertificateNamesHost(dns.get(), "WEB.test"));
  CHECK_FALSE(CertificateNamesHost(dns.get(), "cn.test"));  // a SAN hides the CN
  CHECK_FALSE(CertificateNamesHost(dns.get(), "other.test"));
  auto cn = testing::MakeCert(key.get(), "cn.test", "", nullptr, nullptr, 0, 60, false);
  CHECK(CertificateNamesHost(cn.get(), "cn.test"));
  auto ip = testing::MakeCert(key.get(), "x", "IP:10.1.2.3", nullptr, nullptr, 0, 60, false);
  CHECK(CertificateNamesHost(ip.get(), "10.1.2.3"));
  CHECK_FALSE(CertificateNamesHost(ip.get(), "10.1.2.4"));
  auto wild = testing::MakeCert(key.get(), "x", "DNS:*.test", nullptr, nullptr, 0, 60, false);
  CHECK_FALSE(CertificateNamesHost(wild.get(), "web.test"));
  CHECK_FALSE(CertificateNamesHost(nullptr, "web.test"));
}

// ---- TlsSession against an OpenSSL client, bytes moved by hand ----------

struct Client {
  SslCtxPtr ctx{SSL_CTX_new(TLS_client_method())};
  SslPtr ssl;
  BIO* in = nullptr;
  BIO* out = nullptr;

  Client(const TestPki& pki, const std::string& name, const char* ca_pem = nullptr) {
    if (!name.empty()) {
      SSL_CTX_use_certificate_file(ctx.get(), pki.pem(name).c_str(), SSL_FILETYPE_PEM);
      SSL_CTX_use_PrivateKey_file(ctx.get(), pki.key(name).c_str(), SSL_FILETYPE_PEM);
    }
    SSL_CTX_load_verify_locations(ctx.get(), ca_pem ? ca_pem : pki.ca_pem.c_str(), nullptr);
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    ssl.reset(SSL_new(ctx.get()));
    in = BIO_new(BIO_s_mem());
    out = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(in, -1);
    SSL_set_bio(ssl.get(), in, out);
    SSL_set_connect_state(ssl.get());
  }
  std::string Take() {
    std::string s(BIO_ctrl_pending(out), '\0');
    if (!s.empty()) BIO_read(out, s.data(), static_cast<int>(s.size()));
    return s;
  }
};

// Runs both handshakes to the end; the server's status, plaintext it got.
Status Pump(Client& c, TlsSession& server, std::string* plain) {
  for (int round = 0; round < 20; ++round) {
    SSL_do_handshake(c.ssl.get());
    std::string to_server = c.Take();
    Status s = server.Feed(to_server, plain);
    std::string to_client = server.TakeOutput();
    BIO_write(c.in, to_client.data(), static_cast<int>(to_client.size()));
    if (!s.ok()) return s;
    if (server.handshake_done() && SSL_is_init_finished(c.ssl.get()) && to_server.empty() &&
        to_client.empty()) {
      return Status::Ok();
    }
  }
  return Internal("handshake did not finish");
}

TEST_CASE("tls session: handshake and records through memory buffers only", "[tls]") {
  TestPki pki;
  pki.Leaf("server", "DNS:server.test");
  pki.Leaf("client", "DNS:client.test");
  auto ctx = TlsContext::Create(ServerSettings(pki));
  REQUIRE(ctx.ok());
  auto server = TlsSession::Accept(*ctx);
  REQUIRE(server.ok());
  Client c(pki, "client");
  std::string plain;
  REQUIRE(Pump(c, **server, &plain).ok());
  CHECK((*server)->version() == "TLSv1.3");
  CHECK(!(*server)->cipher().empty());
  CHECK((*server)->PeerNamesHost("client.test"));
  CHECK_FALSE((*server)->PeerNamesHost("server.test"));
  // 100 KB: several records each way; a record split at any byte is fine.
  std::string big(100000, 'x');
  REQUIRE(SSL_write(c.ssl.get(), big.data(), static_cast<int>(big.size())) == 100000);
  std::string wire = c.Take();
  for (size_t at = 0; at < wire.size(); at += 777) {
    REQUIRE((*server)->Feed(std::string_view(wire).substr(at, 777), &plain).ok());
  }
  CHECK(plain == big);
  REQUIRE((*server)->Write("reply").ok());
  std::string back = (*server)->TakeOutput();
  BIO_write(c.in, back.data(), static_cast<int>(back.size()));
  char buf[16];
  REQUIRE(SSL_read(c.ssl.get(), buf, sizeof(buf)) == 5);
  CHECK(std::string(buf, 5) == "reply");
}

TEST_CASE("tls session: refused clients are classified by outcome", "[tls]") {
  TestPki pki;
  pki.Leaf("server", "DNS:server.test");
  pki.Leaf("good", "DNS:client.test");
  pki.Leaf("expired", "DNS:client.test", -7200, -3600);
  TestPki rogue;
  rogue.Leaf("stranger", "DNS:client.test");
  auto ctx = TlsContext::Create(ServerSettings(pki));
  REQUIRE(ctx.ok());
  auto outcome = [&](Client c) {
    auto server = TlsSession::Accept(*ctx);
    std::string plain;
    Status s = Pump(c, **server, &plain);
    return s.ok() ? std::string("ok") : TlsOutcomeName((*server)->failure_outcome());
  };
  CHECK(outcome(Client(pki, "good")) == "ok");
  CHECK(outcome(Client(pki, "")) == "no_certificate");
  CHECK(outcome(Client(pki, "expired")) == "expired");
  CHECK(outcome(Client(rogue, "stranger", pki.ca_pem.c_str())) == "unknown_ca");
  // Not TLS at all: an Erlang TCP handshake's first bytes.
  auto server = TlsSession::Accept(*ctx);
  std::string plain;
  Status s = (*server)->Feed(std::string("\0\x15N\0\0\0\0\0\0\0\0", 11), &plain);
  CHECK_FALSE(s.ok());
  CHECK((*server)->failure_outcome() == TlsOutcome::kProtocolError);
}

}  // namespace
}  // namespace hb
