#include "daemon/check_config.h"

#include <unistd.h>

#include "config/config.h"
#include "daemon/cookie.h"
#include "daemon/tls_options.h"

namespace hb {

std::vector<std::string> CheckConfig(const Options& o, const std::string& plugin_dir) {
  std::vector<std::string> problems;
  Options d = o;
  if (Status s = ApplyDefaultModels(&d); !s.ok()) problems.push_back(s.message());
  for (const ModelConfig& m : d.models) {
    std::string path = plugin_dir + "/" + m.plugin + ".so";
    if (access(path.c_str(), R_OK) != 0) {
      problems.push_back("config key 'models." + m.name + ".plugin': plugin file " + path +
                         " is missing or unreadable");
    }
  }
  // The cookie as startup would find it (a missing default file is fine:
  // it is created then, as erl does).
  if (Status c = CheckCookie(o.cookie, o.cookie_file); !c.ok()) {
    problems.push_back(std::string(o.cookie_file.empty() ? "cookie" : "config key 'cookie_file'") +
                       ": " + c.message());
  }
  // The certificate, key and CAs as startup would load them.
  if (o.tls.enabled) {
    if (auto tls = BuildTlsContext(o.tls); !tls.ok()) problems.push_back(tls.status().message());
  }
  return problems;
}

}  // namespace hb
