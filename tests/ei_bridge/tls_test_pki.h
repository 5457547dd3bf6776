// A throwaway PKI for the TLS unit tests, made with OpenSSL's C API in a
// temp dir: P-256 keys, a CA, and leaf certificates with a chosen SAN and
// validity. Nothing here is kept after the test.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <cstdio>
#include <memory>
#include <string>

namespace hb::testing {

struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;
struct CertFree {
  void operator()(X509* c) const { X509_free(c); }
};
using CertPtr = std::unique_ptr<X509, CertFree>;

inline KeyPtr NewKey() { return KeyPtr(EVP_EC_gen("P-256")); }

inline void AddExt(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// A certificate for `key`, valid from now+from_s to now+to_s, signed by
// issuer/issuer_key (self-signed when null). `san` like "DNS:host"; empty:
// no SAN.
inline CertPtr MakeCert(EVP_PKEY* key, const std::string& cn, const std::string& san,
                        X509* issuer, EVP_PKEY* issuer_key, long from_s, long to_s, bool ca) {
  static long serial = 1;
  CertPtr c(X509_new());
  X509_set_version(c.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(c.get()), serial++);
  X509_gmtime_adj(X509_getm_notBefore(c.get()), from_s);
  X509_gmtime_adj(X509_getm_notAfter(c.get()), to_s);
  X509_set_pubkey(c.get(), key);
  X509_NAME* name = X509_get_subject_name(c.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509* signer = issuer ? issuer : c.get();
  X509_set_issuer_name(c.get(), X509_get_subject_name(signer));
  if (ca) AddExt(c.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
  if (!san.empty()) AddExt(c.get(), signer, NID_subject_alt_name, san);
  X509_sign(c.get(), issuer_key ? issuer_key : key, EVP_sha256());
  return c;
}

inline std::string WritePem(const std::string& path, X509* cert) {
  FILE* f = fopen(path.c_str(), "w");
  PEM_write_X509(f, cert);
  fclose(f);
  return path;
}

inline std::string WritePem(const std::string& path, EVP_PKEY* key) {
  FILE* f = fopen(path.c_str(), "w");
  PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  fclose(f);
  return path;
}

// The files of one test: a CA, a server certificate for "server.test", and
// what a test adds.
struct TestPki {
  std::string dir;
  KeyPtr ca_key = NewKey();
  CertPtr ca = MakeCert(ca_key.get(), "test CA", "", nullptr, nullptr, -60, 86400, true);
  std::string ca_pem;

  TestPki() {
    char tmpl[] = "/tmp/hbtlsXXXXXX";
    dir = mkdtemp(tmpl);
    ca_pem = WritePem(dir + "/ca.pem", ca.get());
  }
  ~TestPki() { std::system(("rm -rf '" + dir + "'").c_str()); }

  // Writes NAME.pem and NAME.key: a leaf signed by the CA.
  void Leaf(const std::string& name, const std::string& san, long from_s = -60,
            long to_s = 86400) {
    KeyPtr k = NewKey();
    CertPtr c = MakeCert(k.get(), name, san, ca.get(), ca_key.get(), from_s, to_s, false);
    WritePem(dir + "/" + name + ".pem", c.get());
    WritePem(dir + "/" + name + ".key", k.get());
  }
  std::string pem(const std::string& name) const { return dir + "/" + name + ".pem"; }
  std::string key(const std::string& name) const { return dir + "/" + name + ".key"; }
};

}  // namespace hb::testing
