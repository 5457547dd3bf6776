// --check-config: what parsing alone cannot see -- plugin files that are
// missing, a cookie file startup would refuse, TLS files that are missing,
// unreadable, expired or a key that is not the certificate's. Creates nothing.
//
// Thread: any.
#pragma once

#include <string>
#include <vector>

#include "config/options.h"

namespace hb {

// Problems, one line each naming the key; empty when the configuration
// would start.
std::vector<std::string> CheckConfig(const Options& o, const std::string& plugin_dir);

}  // namespace hb
