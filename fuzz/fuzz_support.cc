#include "fuzz/fuzz_support.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "base/log.h"
#include "base/utf8.h"
#include "ei_bridge/control.h"
#include "ei_bridge/term.h"
#include "ei_bridge/term_validator.h"
#include "fuzz/fuzz_bodies.h"

namespace hb::fuzz {

// ---- failure reporting ----------------------------------------------------

namespace {

void AbortHandler(const char* file, int line, const char* what) {
  fprintf(stderr, "\n==hornbeamd fuzz invariant violated== %s:%d\n%s\n", file, line, what);
  fflush(stderr);
  abort();
}

FailureHandler g_handler = AbortHandler;

// HB_FUZZ_ONLY, read once (see SkipInput in fuzz_support.h).
const char* OnlyFilter() {
  static const char* only = [] {
    const char* v = getenv("HB_FUZZ_ONLY");
    return (v != nullptr && *v != '\0') ? v : nullptr;
  }();
  return only;
}

}  // namespace

void SetFailureHandler(FailureHandler handler) { g_handler = handler ? handler : AbortHandler; }

void QuietLogs() {
  const char* keep = getenv("HB_FUZZ_LOG");
  if (keep == nullptr || *keep == '\0' || *keep == '0') SetLogLevel(LogLevel::kError);
}

namespace internal {

[[noreturn]] void Fail(const char* file, int line, const std::string& what) {
  // Only the description is matched, not the data after kData (which the
  // input controls: a fuzzer happily writes the filter text into an atom).
  const std::string head = what.substr(0, what.find(kData));
  if (const char* only = OnlyFilter(); only != nullptr && head.find(only) == std::string::npos) {
    throw SkipInput{};
  }
  g_handler(file, line, what.c_str());
  abort();  // a handler that returned
}

std::string Hex(std::string_view bytes, size_t max) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < bytes.size() && i < max; ++i) {
    uint8_t b = static_cast<uint8_t>(bytes[i]);
    out += kDigits[b >> 4];
    out += kDigits[b & 15];
  }
  if (bytes.size() > max) out += "...(" + std::to_string(bytes.size()) + " bytes)";
  return out;
}

// ---- term and control-message comparison ---------------------------------

namespace {

// Term equality, except that floats compare by bit pattern (a NaN that
// survives a round trip is the same term; operator== would say otherwise).
bool SameTerm(const Term& a, const Term& b) {
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case Term::Type::kFloat: {
      double x = a.float_value();
      double y = b.float_value();
      return std::memcmp(&x, &y, sizeof(x)) == 0;
    }
    case Term::Type::kTuple:
    case Term::Type::kMap:
    case Term::Type::kList: {
      if (a.size() != b.size()) return false;
      for (size_t i = 0; i < a.size(); ++i) {
        if (!SameTerm(a[i], b[i])) return false;
      }
      if ((a.tail() == nullptr) != (b.tail() == nullptr)) return false;
      return a.tail() == nullptr || SameTerm(*a.tail(), *b.tail());
    }
    default:
      return a == b;
  }
}

bool SameOptional(const std::optional<Term>& a, const std::optional<Term>& b) {
  if (a.has_value() != b.has_value()) return false;
  return !a || SameTerm(*a, *b);
}

// Everything EncodeControlPacket carries. trace_token is not compared: the
// encoder emits base operations only and drops it by design.
bool SameMessage(const ControlMessage& a, const ControlMessage& b) {
  return a.op == b.op && SameTerm(a.from, b.from) && SameTerm(a.to, b.to) &&
         SameTerm(a.ref, b.ref) && SameTerm(a.reason, b.reason) &&
         SameTerm(a.group_leader, b.group_leader) && SameTerm(a.mfa, b.mfa) &&
         SameTerm(a.options, b.options) && SameTerm(a.result, b.result) && a.flags == b.flags &&
         SameOptional(a.message, b.message);
}

std::string DescribeMessage(const ControlMessage& m) {
  std::string s = std::string(ControlOpName(m.op)) + " from=" + m.from.Describe() +
                  " to=" + m.to.Describe() + " ref=" + m.ref.Describe() +
                  " reason=" + m.reason.Describe() + " gl=" + m.group_leader.Describe() +
                  " mfa=" + m.mfa.Describe() + " options=" + m.options.Describe() +
                  " result=" + m.result.Describe() + " flags=" + std::to_string(m.flags);
  if (m.message) s += " message=" + m.message->Describe();
  return s;
}

bool IsBaseOp(ControlOp op) {
  switch (op) {
    case ControlOp::kLink:
    case ControlOp::kSend:
    case ControlOp::kExit:
    case ControlOp::kUnlink:
    case ControlOp::kRegSend:
    case ControlOp::kGroupLeader:
    case ControlOp::kExit2:
    case ControlOp::kMonitorP:
    case ControlOp::kDemonitorP:
    case ControlOp::kMonitorPExit:
    case ControlOp::kSendSender:
    case ControlOp::kSpawnRequest:
    case ControlOp::kSpawnReply:
    case ControlOp::kAliasSend:
    case ControlOp::kUnlinkId:
    case ControlOp::kUnlinkIdAck:
      return true;
    default:
      return false;
  }
}

}  // namespace

bool HasPayload(ControlOp op) {
  return op == ControlOp::kSend || op == ControlOp::kRegSend || op == ControlOp::kSendSender ||
         op == ControlOp::kSpawnRequest || op == ControlOp::kAliasSend;
}

namespace {

// Limits for decoding what we encoded ourselves from an accepted term: the
// encoder may spend more elements (STRING_EXT becomes a list of integers) and
// may put a payload one level deeper (PAYLOAD_EXIT's reason moves into the
// control tuple), but nothing else grows.
TermLimits ReencodeLimits(const TermLimits& l) {
  TermLimits r = l;
  r.max_depth = l.max_depth + 1;
  r.max_elements = ~size_t{0};
  return r;
}

// ---- the term codec ---------------------------------------------------------

// Why ei would refuse to encode `t`, naming the first culprit; empty when
// nothing in it is known to be unencodable. (Makes crash reports classify.)
std::string Utf8AtomProblem(const std::string& name, const char* what) {
  size_t chars = 0;
  for (unsigned char c : name) chars += (c & 0xC0) != 0x80;
  if (!IsValidUtf8(name)) return std::string(what) + " that is not valid UTF-8: " + Hex(name);
  if (chars > 255) return std::string(what) + " longer than 255 characters";
  return std::string();
}

std::string WhyUnencodable(const Term& t) {
  switch (t.type()) {
    case Term::Type::kFloat:
      if (!std::isfinite(t.float_value()))
        return "non-finite float " + std::to_string(t.float_value());
      return std::string();
    case Term::Type::kAtom:
      return Utf8AtomProblem(t.text(), "atom");
    case Term::Type::kPid:
      return Utf8AtomProblem(t.pid().node, "pid node name");
    case Term::Type::kPort:
      return Utf8AtomProblem(t.port().node, "port node name");
    case Term::Type::kRef:
      return Utf8AtomProblem(t.ref().node, "reference node name");
    default:
      break;
  }
  for (const Term& c : t.items()) {
    std::string why = WhyUnencodable(c);
    if (!why.empty()) return why;
  }
  return t.tail() ? WhyUnencodable(*t.tail()) : std::string();
}

std::string WhyUnencodable(const ControlMessage& m) {
  for (const Term* t :
       {&m.from, &m.to, &m.ref, &m.reason, &m.group_leader, &m.mfa, &m.options, &m.result}) {
    std::string why = WhyUnencodable(*t);
    if (!why.empty()) return why;
  }
  return m.message ? WhyUnencodable(*m.message) : std::string();
}

// Terms in a decoded tree (an Opaque is one; a nil list terminator none).
size_t CountTerms(const Term& t) {
  size_t n = 1;
  for (const Term& c : t.items()) n += CountTerms(c);
  if (t.tail()) n += CountTerms(*t.tail());
  return n;
}

}  // namespace

// ValidateTerm / DecodeValidated / DecodeVersioned / EncodeTerm agree on the
// term at data[offset] (with a version byte when `versioned`). Returns the
// offset past the term when the validator accepts it.
std::optional<size_t> CheckTerm(std::string_view data, size_t offset, const TermLimits& limits,
                                bool versioned) {
  Result<size_t> end =
      versioned ? ValidateVersionedTerm(data, offset, limits) : ValidateTerm(data, offset, limits);
  if (!end.ok()) {
    if (versioned) {
      size_t pos = offset;
      Result<Term> t = DecodeVersioned(data, &pos, limits);
      FUZZ_CHECK(!t.ok(), "DecodeVersioned accepted a term the validator refuses (" +
                              end.status().message() + "): " + Hex(data.substr(offset)));
      FUZZ_CHECK(pos == offset, "a failed DecodeVersioned moved the offset");
    }
    return std::nullopt;
  }
  const size_t term_start = offset + (versioned ? 1 : 0);
  FUZZ_CHECK(*end > term_start && *end <= data.size(),
             "validator end offset " + std::to_string(*end) + " outside (" +
                 std::to_string(term_start) + ", " + std::to_string(data.size()) + "]");
  if (data.size() > 0x7fffffff) return end.value();  // DecodeValidated refuses these by contract

  const std::string_view term_bytes = data.substr(term_start, *end - term_start);
  size_t pos = term_start;
  Result<Term> t = DecodeValidated(data, &pos);
  FUZZ_CHECK(t.ok(), "the validator accepted a term the decoder refuses (" + t.status().message() +
                         "): " + Hex(term_bytes));
  FUZZ_CHECK(pos == *end, "validator and decoder disagree on the term's end: validator " +
                              std::to_string(*end) + ", decoder " + std::to_string(pos) + ": " +
                              Hex(term_bytes));
  if (versioned) {
    size_t vpos = offset;
    Result<Term> v = DecodeVersioned(data, &vpos, limits);
    FUZZ_CHECK(v.ok() && vpos == *end && SameTerm(*v, *t),
               "DecodeVersioned disagrees with ValidateVersionedTerm + DecodeValidated: " +
                   Hex(term_bytes));
  }

  // Whatever we accept we can send back: the daemon echoes arguments in
  // error stacks and reply tags, and an unencodable reply is a caller that
  // waits forever.
  std::string enc;
  Status s = EncodeTerm(*t, &enc);
  FUZZ_CHECK(s.ok(), "a term the decoder accepted cannot be encoded (" + s.message() + "; " +
                         WhyUnencodable(*t) + ")" + kData + t->Describe(200) + " from " +
                         Hex(term_bytes));
  TermLimits relaxed = ReencodeLimits(limits);
  Result<size_t> reend = ValidateTerm(enc, 0, relaxed);
  FUZZ_CHECK(reend.ok() && *reend == enc.size(),
             "our own encoding does not validate (" +
                 (reend.ok() ? std::string("short") : reend.status().message()) + "): " + Hex(enc) +
                 " from " + Hex(term_bytes));
  size_t rpos = 0;
  Result<Term> back = DecodeValidated(enc, &rpos);
  FUZZ_CHECK(back.ok() && rpos == enc.size(), "our own encoding does not decode: " + Hex(enc));
  FUZZ_CHECK(SameTerm(*back, *t), "term changed in an encode/decode round trip" + kData +
                                      t->Describe(200) + " became " + back->Describe(200) +
                                      "; input " + Hex(term_bytes) + ", re-encoded " + Hex(enc));

  // TermLimits::max_elements bounds what one message can make us allocate:
  // the validator must count at least every Term the decoder creates.
  const size_t nodes = CountTerms(*t);
  if (nodes > 1) {
    TermLimits tight = limits;
    tight.max_elements = nodes - 1;
    FUZZ_CHECK(
        !(versioned ? ValidateVersionedTerm(data, offset, tight)
                    : ValidateTerm(data, offset, tight))
             .ok(),
        "the validator counts fewer elements than the decoder creates (" + std::to_string(nodes) +
            " terms pass max_elements = " + std::to_string(nodes - 1) + "): " + Hex(term_bytes));
  }

  // Describe is bounded (log lines must stay short).
  FUZZ_CHECK(t->Describe(120).size() <= 123, "Describe(120) exceeded its bound");
  return end.value();
}

// ---- control messages -------------------------------------------------------

namespace {

// The shapes the daemon relies on after a successful decode (rpc_server.cc
// indexes into these without checking).
void CheckDecodedShape(const ControlMessage& m, std::string_view packet) {
  FUZZ_CHECK(IsBaseOp(m.op), std::string("decoded message not normalised: ") + ControlOpName(m.op));
  if (!m.payload_error.ok()) {
    // A call whose message is over the limits: refused by the daemon
    // without its message (control.h).
    FUZZ_CHECK(m.op == ControlOp::kSpawnRequest || m.op == ControlOp::kRegSend,
               std::string("payload_error on ") + ControlOpName(m.op));
    FUZZ_CHECK(m.payload_error.code() == StatusCode::kOutOfRange && !m.message.has_value(),
               "payload_error with a message or a code other than kOutOfRange: " + Hex(packet));
    return;
  }
  FUZZ_CHECK(m.message.has_value() == HasPayload(m.op),
             std::string("message presence does not match the operation ") + ControlOpName(m.op) +
                 ": " + Hex(packet));
  if (m.op == ControlOp::kRegSend) FUZZ_CHECK(m.to.is_atom(), "REG_SEND to a non-atom");
  if (m.op == ControlOp::kSpawnRequest) {
    FUZZ_CHECK(
        m.mfa.is_tuple(3) && m.mfa[0].is_atom() && m.mfa[1].is_atom() && m.mfa[2].is_int(),
        std::string("SPAWN_REQUEST accepted with a malformed MFA") + kData + m.mfa.Describe());
    FUZZ_CHECK(m.options.is_proper_list(), "SPAWN_REQUEST options not a proper list");
    FUZZ_CHECK(m.message->is_proper_list(), "SPAWN_REQUEST arguments not a proper list");
  }
}

}  // namespace

// Encodes `m` and decodes it again; the result must be the same message.
// `decode_limits` are what the receiving side applies.
void CheckRoundTrip(const ControlMessage& m, const TermLimits& decode_limits,
                    const std::string& origin) {
  Result<std::string> enc = EncodeControlPacket(m);
  FUZZ_CHECK(enc.ok(), "a control message cannot be encoded (" + enc.status().message() + "; " +
                           WhyUnencodable(m) + ")" + kData + DescribeMessage(m) + "; " + origin);
  Result<ControlMessage> back = DecodeControlPacket(*enc, decode_limits);
  FUZZ_CHECK(back.ok(), "EncodeControlPacket output does not decode (" + back.status().message() +
                            "): " + Hex(*enc) + "; " + origin);
  FUZZ_CHECK(SameMessage(m, *back), "control message changed in a round trip" + std::string(kData) +
                                        DescribeMessage(m) + "  became  " + DescribeMessage(*back) +
                                        "; " + origin);
}

void CheckControlPacket(const std::string& packet, const TermLimits& limits) {
  // Term level: each term of the packet through validator, decoder, encoder.
  if (!packet.empty() && packet[0] == 'p') {
    std::optional<size_t> end = CheckTerm(packet, 1, limits, true);
    if (end && *end < packet.size()) CheckTerm(packet, *end, limits, true);
  }
  Result<ControlMessage> m = DecodeControlPacket(packet, limits);
  if (!m.ok()) {
    FUZZ_CHECK(m.status().code() != StatusCode::kInternal && m.status().code() != StatusCode::kOk,
               "DecodeControlPacket failed with an internal error (" + m.status().message() +
                   "): " + Hex(packet));
    return;
  }
  CheckDecodedShape(*m, packet);
  if (!m->payload_error.ok()) return;  // carries no message: nothing to re-encode
  CheckRoundTrip(*m, ReencodeLimits(limits), "packet " + Hex(packet));
}

}  // namespace internal
}  // namespace hb::fuzz
