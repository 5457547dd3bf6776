// Term validator: the only code that looks at untrusted external-format bytes
// before ei does.
//
// erl_interface's decoders trust their input: they read lengths from the
// buffer and never compare them with its end, and ei_skip_term recurses
// without bound. ValidateTerm walks a term iteratively-in-spirit (recursion
// is capped at `max_depth`), checks every length against the bytes that are
// actually there, and refuses anything ei could misread: atom cache
// references, atoms longer than ei's buffers, references with more words than
// erlang_ref holds, negative or absurd sizes.
//
// Pure function; any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "base/status.h"

namespace hb {

struct TermLimits {
  size_t max_depth = 64;            // tuple/list/map/fun nesting
  size_t max_elements = 1u << 20;   // total terms in one message
  size_t max_bignum_bytes = 1024;   // SMALL_BIG/LARGE_BIG digits
};

// Validates one term (no version byte) at data[offset]. On success returns the
// offset just past it.
Result<size_t> ValidateTerm(std::string_view data, size_t offset, const TermLimits& limits);

// Validates a version byte followed by one term.
Result<size_t> ValidateVersionedTerm(std::string_view data, size_t offset, const TermLimits& limits);

}  // namespace hb
