#include "daemon/node_name.h"

#include <netdb.h>
#include <unistd.h>

#include <cctype>

namespace hb {
namespace {

// As erl -name: the canonical name of this host, or the host name itself
// when it does not resolve.
std::string FullyQualified(const std::string& host) {
  std::string name = host;
  struct addrinfo hints = {};
  hints.ai_flags = AI_CANONNAME;
  struct addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &res) == 0 && res && res->ai_canonname) {
    name = res->ai_canonname;
  }
  if (res) freeaddrinfo(res);
  return name;
}

Status CheckAlive(const std::string& alive) {
  if (alive.empty() || alive.size() > 255) return InvalidArgument("node name part is empty or too long");
  for (char c : alive) {
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) {
      return InvalidArgument("node name '" + alive + "' may contain only letters, digits, _ and -");
    }
  }
  return Status::Ok();
}

}  // namespace

Result<std::string> ResolveNodeName(const Options& o, std::string* alive, std::string* host) {
  std::string full = o.name.empty() ? o.sname : o.name;
  size_t at = full.find('@');
  *alive = full.substr(0, at);
  HB_RETURN_IF_ERROR(CheckAlive(*alive));
  if (at != std::string::npos) {
    *host = full.substr(at + 1);
  } else {
    char buf[256] = {0};
    if (gethostname(buf, sizeof(buf) - 1) != 0) return Internal("gethostname failed");
    std::string h = buf;
    // Short names as erl -sname; long names as erl -name.
    *host = o.name.empty() ? h.substr(0, h.find('.')) : FullyQualified(h);
  }
  if (host->empty()) return InvalidArgument("host part of the node name is empty");
  return *alive + "@" + *host;
}

}  // namespace hb
