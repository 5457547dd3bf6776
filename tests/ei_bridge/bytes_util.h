// Byte helpers shared by the wire-layer tests.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace hb::testing {

// {131, 104, ...} -> the bytes.
inline std::string Bytes(std::initializer_list<int> v) {
  std::string s;
  s.reserve(v.size());
  for (int b : v) s.push_back(static_cast<char>(static_cast<uint8_t>(b)));
  return s;
}

// "83 68 02 ..." for failure messages.
inline std::string Hex(std::string_view s) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out.push_back(d[c >> 4]);
    out.push_back(d[c & 15]);
    out.push_back(' ');
  }
  return out;
}

}  // namespace hb::testing
