// The "tls" configuration object (config/options.h) as the wire's TLS
// context (ei_bridge/tls_context.h): used by --check-config, at start and
// on SIGHUP, so all three refuse the same files with the same line.
//
// Thread: any.
#pragma once

#include <memory>

#include "base/status.h"
#include "config/options.h"
#include "ei_bridge/tls_context.h"

namespace hb {

TlsSettings ToTlsSettings(const TlsOptions& t);

// Builds the context of `t` (enabled). Errors read "config key 'tls':
// certfile /path: ..." -- one line naming the file.
Result<std::shared_ptr<const TlsContext>> BuildTlsContext(const TlsOptions& t);

}  // namespace hb
