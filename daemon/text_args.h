// Text arguments as Erlang callers send them: UTF-8 binaries (what
// Hornbeam's Python bridge sends for str, and Elixir strings) or charlists.
// Anything else is the caller's error (badarg), as a BEAM function raises.
#pragma once

#include <string>
#include <string_view>

#include "ei_bridge/status.h"
#include "ei_bridge/term.h"
#include "ei_bridge/utf8.h"  // IsValidUtf8

namespace hb {

// A binary (valid UTF-8) or a list of Unicode code points -> UTF-8 bytes.
Result<std::string> TermToText(const Term& t);

}  // namespace hb
