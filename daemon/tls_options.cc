#include "daemon/tls_options.h"

namespace hb {

TlsSettings ToTlsSettings(const TlsOptions& t) {
  TlsSettings s;
  s.certfile = t.certfile;
  s.keyfile = t.keyfile;
  s.cacertfile = t.cacertfile;
  s.cacertdir = t.cacertdir;
  s.verify_peer = t.verify != "verify_none";
  s.fail_if_no_peer_cert = t.fail_if_no_peer_cert;
  s.versions = t.versions;
  s.ciphers = t.ciphers;
  s.crl_file = t.crl_file;
  s.node_name_check = t.node_name_check;
  return s;
}

Result<std::shared_ptr<const TlsContext>> BuildTlsContext(const TlsOptions& t) {
  Result<std::shared_ptr<const TlsContext>> ctx = TlsContext::Create(ToTlsSettings(t));
  if (!ctx.ok()) return InvalidArgument("config key 'tls': " + ctx.status().message());
  return ctx;
}

}  // namespace hb
