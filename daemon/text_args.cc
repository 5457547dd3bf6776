#include "daemon/text_args.h"

#include "base/utf8.h"

#include <cstdint>

namespace hb {

Result<std::string> TermToText(const Term& t) {
  if (t.is_binary()) {
    if (!IsValidUtf8(t.text())) return InvalidArgument("text is not valid UTF-8");
    return t.text();
  }
  if (t.is_proper_list()) {
    std::string out;
    out.reserve(t.size());
    for (const Term& c : t.items()) {
      if (!c.is_int()) return InvalidArgument("charlist holds a non-integer");
      int64_t cp = c.int_value();
      if (cp < 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        return InvalidArgument("charlist holds an invalid code point");
      }
      if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
      } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      }
    }
    return out;
  }
  return InvalidArgument("text must be a binary or a charlist");
}

}  // namespace hb
