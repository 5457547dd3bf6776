// UTF-8 well-formedness (no overlongs, no surrogates, at most U+10FFFF), as
// the BEAM requires of UTF-8 atoms and as text arguments are checked.
#pragma once

#include <string_view>

namespace hb {

bool IsValidUtf8(std::string_view s);

}  // namespace hb
