// The magic cookie, found the way erl finds it: an explicit cookie, else the
// cookie file ($HOME/.erlang.cookie unless configured). A missing default
// file is created with 20 random upper-case letters and mode 0400, as erl
// does; a file readable or writable by group or others is refused, as erl
// refuses it.
#pragma once

#include <string>

#include "base/status.h"

namespace hb {

Result<std::string> LoadCookie(const std::string& explicit_cookie, const std::string& cookie_file);

// What LoadCookie would say, without creating anything (--check-config): ok
// when it would find a usable cookie or create the missing default file.
Status CheckCookie(const std::string& explicit_cookie, const std::string& cookie_file);

}  // namespace hb
