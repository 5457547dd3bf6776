// Text arguments as Erlang callers send them: UTF-8 binaries (what
// Hornbeam's Python bridge sends for str, and Elixir strings) or charlists.
// Anything else is the caller's error (badarg), as a BEAM function raises.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"
#include "base/utf8.h"  // IsValidUtf8
#include "ei_bridge/term.h"

namespace hb {

// A binary (valid UTF-8) or a list of Unicode code points -> UTF-8 bytes.
Result<std::string> TermToText(const Term& t);

}  // namespace hb
