// The node's full name, NAME@HOST, as erl -sname/-name would choose it:
// short names take the host name up to its first dot; long names resolve the
// fully qualified name (DNS). Called once at start.
//
// Thread: any (getaddrinfo may block).
#pragma once

#include <string>

#include "base/status.h"
#include "config/options.h"

namespace hb {

// "gpu@myhost"; `alive` and `host` receive the two parts.
Result<std::string> ResolveNodeName(const Options& o, std::string* alive, std::string* host);

}  // namespace hb
