#include "fuzz/fuzz_bodies.h"

#include <uv.h>

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#ifdef __linux__
#include <sys/mman.h>
#include <unistd.h>
#endif

#include "daemon/dispatcher.h"
#include "daemon/health_service.h"
#include "daemon/metrics.h"
#include "daemon/options.h"
#include "daemon/router.h"
#include "daemon/rpc_server.h"
#include "daemon/text_args.h"
#include "daemon/worker_pool.h"
#include "ei_bridge/control.h"
#include "ei_bridge/dist_flags.h"
#include "ei_bridge/handshake.h"
#include "ei_bridge/log.h"
#include "ei_bridge/packet_reader.h"
#include "ei_bridge/term.h"
#include "ei_bridge/term_validator.h"

namespace hb::fuzz {
namespace {

// ---- failure reporting ----------------------------------------------------

void AbortHandler(const char* file, int line, const char* what) {
  fprintf(stderr, "\n==hornbeamd fuzz invariant violated== %s:%d\n%s\n", file, line, what);
  fflush(stderr);
  abort();
}

FailureHandler g_handler = AbortHandler;

// Separates a violation's description from the input-controlled data
// (described terms, names) that follows it.
const std::string kData = "\n  data: ";

// HB_FUZZ_ONLY=TEXT: only violations whose description contains TEXT count;
// an input that violates another invariant is abandoned as uninteresting.
// For minimising one bug while others are still open (scripts/fuzz --only).
struct SkipInput {};

const char* OnlyFilter() {
  static const char* only = [] {
    const char* v = getenv("HB_FUZZ_ONLY");
    return (v != nullptr && *v != '\0') ? v : nullptr;
  }();
  return only;
}

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

// Runs a body; SkipInput ends the input quietly.
template <typename F>
void Guarded(F&& body) {
  try {
    body();
  } catch (const SkipInput&) {
  }
}

// `what` is evaluated only when `cond` is false.
#define FUZZ_CHECK(cond, what)                                                   \
  do {                                                                           \
    if (!(cond)) {                                                               \
      Fail(__FILE__, __LINE__, std::string("check failed: " #cond "\n") + (what)); \
    }                                                                            \
  } while (0)

std::string Hex(std::string_view bytes, size_t max = 96) {
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

bool HasPayload(ControlOp op) {
  return op == ControlOp::kSend || op == ControlOp::kRegSend || op == ControlOp::kSendSender ||
         op == ControlOp::kSpawnRequest || op == ControlOp::kAliasSend;
}

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
      if (!std::isfinite(t.float_value())) return "non-finite float " + std::to_string(t.float_value());
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
  for (const Term* t : {&m.from, &m.to, &m.ref, &m.reason, &m.group_leader, &m.mfa, &m.options,
                        &m.result}) {
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

// ValidateTerm / DecodeValidated / DecodeVersioned / EncodeTerm agree on the
// term at data[offset] (with a version byte when `versioned`). Returns the
// offset past the term when the validator accepts it.
std::optional<size_t> CheckTerm(std::string_view data, size_t offset, const TermLimits& limits,
                                bool versioned) {
  Result<size_t> end = versioned ? ValidateVersionedTerm(data, offset, limits)
                                 : ValidateTerm(data, offset, limits);
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
  FUZZ_CHECK(t.ok(), "the validator accepted a term the decoder refuses (" +
                         t.status().message() + "): " + Hex(term_bytes));
  FUZZ_CHECK(pos == *end, "validator and decoder disagree on the term's end: validator " +
                              std::to_string(*end) + ", decoder " + std::to_string(pos) +
                              ": " + Hex(term_bytes));
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
                 (reend.ok() ? std::string("short") : reend.status().message()) +
                 "): " + Hex(enc) + " from " + Hex(term_bytes));
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
    FUZZ_CHECK(!(versioned ? ValidateVersionedTerm(data, offset, tight)
                           : ValidateTerm(data, offset, tight))
                    .ok(),
               "the validator counts fewer elements than the decoder creates (" +
                   std::to_string(nodes) + " terms pass max_elements = " +
                   std::to_string(nodes - 1) + "): " + Hex(term_bytes));
  }

  // Describe is bounded (log lines must stay short).
  FUZZ_CHECK(t->Describe(120).size() <= 123, "Describe(120) exceeded its bound");
  return end.value();
}

// ---- control messages -------------------------------------------------------

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
    FUZZ_CHECK(m.mfa.is_tuple(3) && m.mfa[0].is_atom() && m.mfa[1].is_atom() && m.mfa[2].is_int(),
               std::string("SPAWN_REQUEST accepted with a malformed MFA") + kData + m.mfa.Describe());
    FUZZ_CHECK(m.options.is_proper_list(), "SPAWN_REQUEST options not a proper list");
    FUZZ_CHECK(m.message->is_proper_list(), "SPAWN_REQUEST arguments not a proper list");
  }
}

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
                                        DescribeMessage(m) + "  became  " +
                                        DescribeMessage(*back) + "; " + origin);
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

// Splits a 4-byte-framed stream into packets as Connection does, feeding it
// in two pieces so that a packet straddles an Append.
void ControlStream(std::string_view in, size_t split, const TermLimits& limits) {
  constexpr size_t kMaxPacket = 1u << 20;
  PacketReader reader(4, kMaxPacket);
  size_t consumed = 0;
  std::string packet;
  auto drain = [&]() -> bool {
    for (;;) {
      Result<bool> got = reader.Next(&packet);
      if (!got.ok()) {
        FUZZ_CHECK(got.status().code() == StatusCode::kOutOfRange,
                   "PacketReader error is not kOutOfRange: " + got.status().message());
        return false;  // Connection closes here
      }
      if (!*got) return true;
      FUZZ_CHECK(packet.size() <= kMaxPacket, "PacketReader returned an oversized packet");
      consumed += 4 + packet.size();
      if (!packet.empty()) CheckControlPacket(packet, limits);  // empty: a tick
    }
  };
  split = std::min(split, in.size());
  reader.Append(in.substr(0, split));
  if (!drain()) return;
  FUZZ_CHECK(consumed + reader.buffered() == split, "PacketReader lost or invented bytes");
  reader.Append(in.substr(split));
  if (!drain()) return;
  FUZZ_CHECK(consumed + reader.buffered() == in.size(), "PacketReader lost or invented bytes");
}

// ---- handshake ----------------------------------------------------------------

constexpr uint8_t kHsPrependName = 1;    // harness sends a well-formed 'N' first
constexpr uint8_t kHsDenyAll = 2;        // the allowlist refuses every peer
constexpr uint8_t kHsConnected = 4;      // we already have a connection to the peer
constexpr uint8_t kHsFixDigest = 8;      // harness puts the right digest in an 'r'
constexpr uint8_t kHsThenControl = 16;   // after the handshake: control packets
constexpr uint8_t kHsNoCallbacks = 128;  // admit / is_connected left empty
// bits 5-6: how the stream is cut into reads (1, 7 or 64 bytes, or whole)

constexpr char kHsPeer[] = "client@host";
constexpr char kHsOurName[] = "gpu@host";
constexpr char kHsCookie[] = "FUZZCOOKIE";
constexpr uint32_t kHsChallenge = 0x5eed1234;

void PutBE(std::string* out, uint64_t v, size_t n) {
  for (size_t i = n; i-- > 0;) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint64_t GetBE(std::string_view p, size_t at, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<uint8_t>(p[at + i]);
  return v;
}

int Rank(HandshakeAcceptor::State s) {
  switch (s) {
    case HandshakeAcceptor::State::kAwaitName: return 0;
    case HandshakeAcceptor::State::kAwaitAliveAnswer: return 1;
    case HandshakeAcceptor::State::kAwaitChallengeReply: return 2;
    case HandshakeAcceptor::State::kDone: return 3;
    case HandshakeAcceptor::State::kFailed: return 4;
  }
  return -1;
}

// Our challenge packet as the peer's dist_util parses it.
void CheckOurChallenge(const std::string& c) {
  const size_t nlen = sizeof(kHsOurName) - 1;
  FUZZ_CHECK(c.size() == 19 + nlen && c[0] == 'N', "malformed challenge packet: " + Hex(c));
  FUZZ_CHECK(GetBE(c, 1, 8) == dflag::kOurs, "challenge advertises the wrong flags");
  FUZZ_CHECK(GetBE(c, 9, 4) == kHsChallenge, "challenge packet carries the wrong challenge");
  FUZZ_CHECK(GetBE(c, 17, 2) == nlen && c.compare(19, nlen, kHsOurName) == 0,
             "challenge packet carries the wrong node name");
}

struct HandshakeRun {
  uint8_t mode;
  bool admit_called = false;
  std::unique_ptr<HandshakeAcceptor> hs;
  bool refused = false;  // an error or a polite refusal happened
  bool done = false;

  explicit HandshakeRun(uint8_t m) : mode(m) {
    HandshakeConfig cfg;
    cfg.node_name = kHsOurName;
    cfg.cookie = kHsCookie;
    cfg.flags = dflag::kOurs;
    cfg.creation = 42;
    if (!(mode & kHsNoCallbacks)) {
      const bool deny = mode & kHsDenyAll;
      const bool connected = mode & kHsConnected;
      cfg.admit = [this, deny](std::string_view) {
        admit_called = true;
        return !deny;
      };
      cfg.is_connected = [connected](std::string_view) { return connected; };
    }
    hs = std::make_unique<HandshakeAcceptor>(std::move(cfg), kHsChallenge);
  }

  bool Denies() const { return !(mode & kHsNoCallbacks) && (mode & kHsDenyAll); }
  bool Connected() const { return !(mode & kHsNoCallbacks) && (mode & kHsConnected); }

  // One handshake packet, checked.
  void Feed(std::string p) {
    const HandshakeAcceptor::State before = hs->state();
    if ((mode & kHsFixDigest) && before == HandshakeAcceptor::State::kAwaitChallengeReply &&
        p.size() == 21 && p[0] == 'r') {
      p.replace(5, 16, HandshakeDigest(kHsChallenge, kHsCookie));
    }
    Result<HandshakeAcceptor::Step> step = hs->OnPacket(p);
    const HandshakeAcceptor::State after = hs->state();
    const std::string where = "packet " + Hex(p) + " in state " + std::to_string(Rank(before)) +
                              " -> " + std::to_string(Rank(after));

    FUZZ_CHECK(Rank(after) >= Rank(before), "handshake state moved backwards: " + where);
    if (refused) {
      FUZZ_CHECK(!step.ok() && after == HandshakeAcceptor::State::kFailed,
                 "a refused handshake accepted another packet: " + where);
    }
    if (!step.ok()) {
      FUZZ_CHECK(after == HandshakeAcceptor::State::kFailed,
                 "OnPacket failed without entering kFailed: " + where);
      FUZZ_CHECK(!step.status().message().empty(), "handshake error without a message");
      refused = true;
      return;
    }
    for (const std::string& out : step->out) {
      FUZZ_CHECK(!out.empty() && out.size() <= 0xffff, "unframable handshake packet: " + where);
    }
    if (step->close_after_send) {
      FUZZ_CHECK(after == HandshakeAcceptor::State::kFailed && !step->done,
                 "a polite refusal left the handshake open: " + where);
      FUZZ_CHECK(step->out.size() == 1 && step->out[0] == "snot_allowed" && !step->refusal.empty(),
                 "refusal does not send status not_allowed: " + where);
      FUZZ_CHECK(admit_called && Denies(), "refused a peer the allowlist admits: " + where);
      refused = true;
      return;
    }
    FUZZ_CHECK(Rank(after) > Rank(before) && after != HandshakeAcceptor::State::kFailed,
               "successful step did not advance the handshake: " + where);
    FUZZ_CHECK(!hs->peer_name().empty() && hs->peer_name().find('@') != std::string::npos &&
                   hs->peer_name().size() <= 255 * 4,
               "handshake advanced with an implausible peer name: " + Hex(hs->peer_name()));
    FUZZ_CHECK(!Denies(), "the handshake advanced for a peer the allowlist refuses: " + where);
    switch (after) {
      case HandshakeAcceptor::State::kAwaitAliveAnswer:
        FUZZ_CHECK(Connected() && step->out.size() == 1 && step->out[0] == "salive",
                   "alive status without an existing connection: " + where);
        break;
      case HandshakeAcceptor::State::kAwaitChallengeReply:
        if (before == HandshakeAcceptor::State::kAwaitName) {
          FUZZ_CHECK(!Connected() && step->out.size() == 2 && step->out[0] == "sok",
                     "send_name not answered with status ok: " + where);
        } else {
          FUZZ_CHECK(p == "strue" && step->out.size() == 1,
                     "alive answer other than true continued the handshake: " + where);
        }
        CheckOurChallenge(step->out.back());
        break;
      case HandshakeAcceptor::State::kDone: {
        FUZZ_CHECK(step->done && before == HandshakeAcceptor::State::kAwaitChallengeReply,
                   "handshake done out of order: " + where);
        // Only the right cookie gets in.
        FUZZ_CHECK(p.size() == 21 && p[0] == 'r' &&
                       p.compare(5, 16, HandshakeDigest(kHsChallenge, kHsCookie)) == 0,
                   "handshake completed without the right digest: " + where);
        uint32_t peer_challenge = static_cast<uint32_t>(GetBE(p, 1, 4));
        FUZZ_CHECK(step->out.size() == 1 &&
                       step->out[0] == "a" + HandshakeDigest(peer_challenge, kHsCookie),
                   "challenge ack does not answer the peer's challenge: " + where);
        done = true;
        break;
      }
      default:
        FUZZ_CHECK(false, "unexpected state after a successful step: " + where);
    }
    if (!step->done) FUZZ_CHECK(after != HandshakeAcceptor::State::kDone, "done without done flag");
  }
};

// ---- request path -------------------------------------------------------------

constexpr char kReqPeer[] = "client@host";
constexpr char kReqNode[] = "gpu@host";
constexpr uint32_t kReqCreation = 42;
constexpr uint32_t kReqMaxPerPeer = 3;
constexpr uint32_t kReqMaxTotal = 4;

Term PeerPid(uint32_t n) { return Term::MakePid({kReqPeer, n, 0, 7}); }
Term PeerRef(uint32_t n) { return Term::MakeRef({kReqPeer, 7, {n, 1, 2}}); }
Term A(const char* a) { return Term::Atom(a); }

// One worker thread for every run: starting a thread per input costs more
// than the input (ASan's thread start-up dominates). Runs leave it idle (see
// ServerFixture::Close), so it carries nothing from one input to the next.
WorkerPool* SharedPool() {
  static WorkerPool* pool = new WorkerPool(1);  // never destroyed: workers may outlive main's statics
  return pool;
}

// Blocks until every task submitted so far has finished (one FIFO thread).
void WaitForPoolIdle(WorkerPool* pool) {
  std::mutex mu;
  std::condition_variable cv;
  bool reached = false;
  pool->Submit([&] {
    std::lock_guard<std::mutex> lock(mu);
    reached = true;
    cv.notify_one();
  });
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return reached; });
}

// A fixture like tests/daemon/rpc_server_test.cc's, with health:sleep made
// instant (its argument checks still run).
struct ServerFixture {
  uv_loop_t loop;
  Router router;
  Metrics metrics;
  WorkerPool* pool = SharedPool();
  std::unique_ptr<Dispatcher> dispatcher;
  std::unique_ptr<RpcServer> server;
  NodeStatus status;
  std::vector<std::pair<std::string, ControlMessage>> sent;
  std::optional<ControlMessage> request;  // as delivered, for "send it again"
  bool closed = false;

  ServerFixture() {
    uv_loop_init(&loop);
    dispatcher = std::make_unique<Dispatcher>(&loop, &router, pool, &metrics);
    status.node = kReqNode;
    status.version = "fuzz";
    status.now_ms = [] { return uint64_t{0}; };
    status.peers = [] { return std::vector<std::string>{kReqPeer}; };
    status.inflight = [this] { return dispatcher->inflight(); };
    AddHealthRoutes(&router, &status, &metrics);
    if (const Route* sleep = router.Find("health", "sleep", 1)) {
      Route fast = *sleep;
      auto run = sleep->run;
      fast.run = [run](const CallRequest& req) {
        const Term& ms = req.args[0];
        if (ms.is_int() && ms.int_value() > 0 && ms.int_value() <= 60000) {
          CallRequest instant = req;
          instant.args = Term::List({Term::Int(0)});
          return run(instant);
        }
        return run(req);
      };
      router.Add("health", "sleep", 1, fast);
    }
    server = std::make_unique<RpcServer>(kReqNode, kReqCreation, dispatcher.get(),
                                         [this](const std::string& n, const ControlMessage& m) {
                                           sent.emplace_back(n, m);
                                           return true;
                                         });
    // Small in-flight limits, so that a script repeating its request
    // reaches the refusals (system_limit) and their accounting.
    server->set_limits(kReqMaxPerPeer, kReqMaxTotal, &metrics);
  }

  // Runs the loop until no call is in flight (worker calls post back
  // through the dispatcher's async handle).
  bool Drain() {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    for (;;) {
      uv_run(&loop, UV_RUN_NOWAIT);
      if (dispatcher->inflight() == 0) return true;
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::yield();
    }
  }

  // The worker may still be inside a call that was cancelled while it ran
  // (it posts to the dispatcher when done): wait for it before the
  // dispatcher goes, as the daemon's pool.Shutdown() does.
  int Close() {
    closed = true;
    WaitForPoolIdle(pool);
    dispatcher->Close([] {});
    uv_run(&loop, UV_RUN_DEFAULT);
    return uv_loop_close(&loop);
  }

  ~ServerFixture() {
    if (!closed) Close();
  }
};

// Request modes (byte 0 of the input, modulo kReqModes).
enum ReqMode : uint8_t {
  kReqErpcWhole = 0,  // SPAWN_REQUEST erpc:execute_call/4, argument list = T
  kReqErpcCall,       // erpc:execute_call(Ref, M, F, A): M, F from T or the table, A = T
  kReqErpcCast,       // erpc:execute_cast(M, F, A)
  kReqSpawn,          // spawn(Node, M, F, A)
  kReqSpawnOptions,   // options = T, erpc call of health:ping
  kReqRexCall,        // {'$gen_call', {Pid, Tag}, {call, M, F, A, user}} to rex
  kReqRexRaw,         // REG_SEND rex, message T
  kReqNetKernel,      // REG_SEND net_kernel, message T
  kReqRexCast,        // {'$gen_cast', {cast, M, F, A, user}} or {Pid, {call, ...}} to rex
  kReqRegName,        // REG_SEND to the atom T (or {Name, Msg})
  kReqControl,        // raw packet body + (sel & 7) script bytes: any operation
  kReqModes
};

struct Mfa {
  const char* m;
  const char* f;
};
constexpr Mfa kFunctions[] = {
    {"health", "ping"}, {"health", "check"},  {"health", "sleep"}, {"metrics", "get_all"},
    {"os", "cmd"},      {"erlang", "halt"},   {"ml", "embed"},     {"health", ""},
};
constexpr size_t kNumFunctions = sizeof(kFunctions) / sizeof(kFunctions[0]);

Term AsArgs(const Term& t) { return t.is_proper_list() ? t : Term::List({t}); }

Term SpawnOptions(uint8_t sel) {
  std::vector<Term> opts;
  if (sel & 0x10) opts.push_back(A("monitor"));
  if (sel & 0x20) opts.push_back(A("link"));
  if (sel & 0x40) opts.push_back(Term::Tuple({A("monitor"), Term::Nil()}));
  if (sel & 0x80) opts.push_back(Term::Tuple({A("priority"), A("high")}));
  return Term::List(std::move(opts));
}

ControlMessage SpawnRequest(const Term& mfa, Term options, Term args) {
  ControlMessage m;
  m.op = ControlOp::kSpawnRequest;
  m.ref = PeerRef(1);
  m.from = PeerPid(100);
  m.group_leader = PeerPid(101);
  m.mfa = mfa;
  m.options = std::move(options);
  m.message = std::move(args);
  return m;
}

ControlMessage RegSend(Term to, Term message) {
  ControlMessage m;
  m.op = ControlOp::kRegSend;
  m.from = PeerPid(100);
  m.to = std::move(to);
  m.message = std::move(message);
  return m;
}

// Builds the request the input asks for. nullopt: the term does not fit.
std::optional<ControlMessage> BuildRequest(uint8_t mode, uint8_t sel, const Term& t) {
  const Mfa& fn = kFunctions[sel % kNumFunctions];
  Term mod = A(fn.m);
  Term fun = A(fn.f);
  Term args = AsArgs(t);
  if (t.is_tuple(3) && t[0].is_atom() && t[1].is_atom()) {  // {M, F, A} of the fuzzer's choosing
    mod = t[0];
    fun = t[1];
    args = t[2];
  }
  const Term tag = (sel & 0x10) ? Term::ImproperList({A("alias")}, PeerRef(4)) : PeerRef(4);
  switch (mode % kReqModes) {
    case kReqErpcWhole:
      return SpawnRequest(Term::Tuple({A("erpc"), A("execute_call"), Term::Int(4)}),
                          SpawnOptions(sel), AsArgs(t));
    case kReqErpcCall:
      return SpawnRequest(Term::Tuple({A("erpc"), A("execute_call"), Term::Int(4)}),
                          SpawnOptions(sel), Term::List({PeerRef(2), mod, fun, args}));
    case kReqErpcCast:
      return SpawnRequest(Term::Tuple({A("erpc"), A("execute_cast"), Term::Int(3)}),
                          SpawnOptions(sel), Term::List({mod, fun, args}));
    case kReqSpawn:
      if (!mod.is_atom() || !fun.is_atom()) return std::nullopt;
      return SpawnRequest(Term::Tuple({mod, fun, Term::Int(static_cast<int64_t>(args.size()))}),
                          SpawnOptions(sel), args);
    case kReqSpawnOptions:
      return SpawnRequest(Term::Tuple({A("erpc"), A("execute_call"), Term::Int(4)}), AsArgs(t),
                          Term::List({PeerRef(2), A("health"), A("ping"), Term::Nil()}));
    case kReqRexCall:
      return RegSend(A("rex"), Term::Tuple({A("$gen_call"), Term::Tuple({PeerPid(100), tag}),
                                            Term::Tuple({A((sel & 0x20) ? "block_call" : "call"),
                                                         mod, fun, args, A("user")})}));
    case kReqRexRaw:
      return RegSend(A("rex"), t);
    case kReqNetKernel:
      return RegSend(A("net_kernel"), t);
    case kReqRexCast:
      if (sel & 0x20) {
        return RegSend(A("rex"), Term::Tuple({PeerPid(100), Term::Tuple({A("call"), mod, fun,
                                                                         args, A("user")})}));
      }
      return RegSend(A("rex"), Term::Tuple({A("$gen_cast"),
                                            Term::Tuple({A("cast"), mod, fun, args, A("user")})}));
    case kReqRegName:
      if (t.is_tuple(2) && t[0].is_atom()) return RegSend(t[0], t[1]);
      if (t.is_atom()) return RegSend(t, Term::Nil());
      return std::nullopt;
    default:
      return std::nullopt;  // kReqControl is built from bytes, below
  }
}

// What DecodeControlPacket's Fill() insists on for the operations built here.
bool WouldDecode(const ControlMessage& m) {
  switch (m.op) {
    case ControlOp::kRegSend:
      return m.to.is_atom() && m.message.has_value();
    case ControlOp::kSpawnRequest:
      return m.mfa.is_tuple(3) && m.mfa[0].is_atom() && m.mfa[1].is_atom() && m.mfa[2].is_int() &&
             m.options.is_proper_list() && m.message && m.message->is_proper_list();
    default:
      return !m.message.has_value() || HasPayload(m.op);
  }
}

// Sends `m` over the "wire": encoded and decoded as a peer's packet would
// be, so the server sees exactly what DecodeControlPacket lets through. When
// ei cannot encode it (a term decoded from the input that ei refuses to
// emit, e.g. a NaN), the bytes a peer would send -- our frame around the
// input's own term bytes -- decode to `m` itself, so `m` is delivered as is.
void Deliver(ServerFixture* fx, const ControlMessage& m, const TermLimits& limits) {
  Result<std::string> enc = EncodeControlPacket(m);
  if (!enc.ok()) {
    if (WouldDecode(m)) fx->server->OnControl(kReqPeer, m);
    return;
  }
  Result<ControlMessage> dec = DecodeControlPacket(*enc, limits);
  if (!dec.ok()) return;
  fx->server->OnControl(kReqPeer, std::move(dec).value());
}

// The input's request, delivered and remembered for the script's repeats.
void DeliverRequest(ServerFixture* fx, const ControlMessage& m, const TermLimits& limits) {
  fx->request = m;
  Deliver(fx, m, limits);
}

Term LatestSpawnedPid(const ServerFixture& fx) {
  for (auto it = fx.sent.rbegin(); it != fx.sent.rend(); ++it) {
    if (it->second.op == ControlOp::kSpawnReply && it->second.result.is_pid()) {
      return it->second.result;
    }
  }
  return Term::MakePid({kReqNode, 1, 0, kReqCreation});
}

// One follow-up signal from the script.
void Signal(ServerFixture* fx, uint8_t op, bool* draining, const TermLimits& limits) {
  const Term caller = PeerPid(100);
  const Term pid = LatestSpawnedPid(*fx);
  ControlMessage m;
  m.from = caller;
  m.to = pid;
  switch (op % 13) {
    case 0:
      m.op = ControlOp::kDemonitorP;
      m.ref = PeerRef(1);
      break;
    case 1:
      m.op = ControlOp::kExit2;
      m.reason = A("kill");
      break;
    case 2:
      m.op = ControlOp::kExit2;
      m.reason = A("normal");
      break;
    case 3:
      m.op = ControlOp::kExit;
      m.reason = A("boom");
      break;
    case 4:
      m.op = ControlOp::kLink;
      break;
    case 5:
      m.op = ControlOp::kUnlinkId;
      m.ref = Term::Int(op);
      break;
    case 6:
      fx->server->OnPeerDown(kReqPeer);
      fx->server->OnPeerUp({kReqPeer, dflag::kOurs, 7});
      return;
    case 7:
      uv_run(&fx->loop, UV_RUN_NOWAIT);
      return;
    case 8:
      *draining = !*draining;
      fx->server->set_draining(*draining);
      return;
    case 9:
      m.op = ControlOp::kMonitorP;
      m.ref = PeerRef(9);
      break;
    case 10:  // gen:call gave up on a rex call
      m.op = ControlOp::kDemonitorP;
      m.to = A("rex");
      m.ref = PeerRef(4);
      break;
    case 11:
      m.op = ControlOp::kUnlink;
      break;
    case 12:  // the same request again: more calls in flight, up to the limits
      if (fx->request) fx->server->OnControl(kReqPeer, *fx->request);
      return;
  }
  Deliver(fx, m, limits);
}

void CheckText(const Term& t) {
  Result<std::string> text = TermToText(t);
  if (!text.ok()) return;
  FUZZ_CHECK(IsValidUtf8(*text), "TermToText produced invalid UTF-8" + std::string(kData) + t.Describe());
  if (t.is_binary()) FUZZ_CHECK(*text == t.text(), "TermToText changed a valid UTF-8 binary");
}

}  // namespace

void SetFailureHandler(FailureHandler handler) { g_handler = handler ? handler : AbortHandler; }

void QuietLogs() {
  const char* keep = getenv("HB_FUZZ_LOG");
  if (keep == nullptr || *keep == '\0' || *keep == '0') SetLogLevel(LogLevel::kError);
}

// ---------------------------------------------------------------------------

namespace {
void FuzzControlImpl(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const TermLimits limits;
  // The raw bytes as one bare and one versioned term: validate-ok must mean
  // decode-ok, ending at the same offset. Decoded from a copy, as production
  // decodes from std::string packets.
  const std::string copy(in);
  CheckTerm(copy, 0, limits, false);
  CheckTerm(copy, 0, limits, true);
  // The bytes as a peer's stream after the handshake.
  ControlStream(in, size == 0 ? 0 : data[size - 1] % (size + 1), limits);
}
}  // namespace

void FuzzControl(const uint8_t* data, size_t size) {
  Guarded([&] { FuzzControlImpl(data, size); });
}

namespace {
void FuzzHandshakeImpl(const uint8_t* data, size_t size) {
  if (size == 0) return;
  const uint8_t mode = data[0];
  const std::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);
  HandshakeRun run(mode);
  const TermLimits limits;

  if (mode & kHsPrependName) {
    std::string n = "N";
    PutBE(&n, dflag::kMandatory25 | dflag::kMandatory25Digest | dflag::kSpawn |
                  dflag::kDistMonitor | dflag::kDistMonitorName,
          8);
    PutBE(&n, 7, 4);
    PutBE(&n, sizeof(kHsPeer) - 1, 2);
    n += kHsPeer;
    run.Feed(std::move(n));
  }

  // As Connection: one reader, 2-byte framing until the handshake is done,
  // 4-byte framing (re-reading what is buffered) afterwards.
  PacketReader reader(2, 64u << 20);
  const size_t chunk_sizes[] = {1, 7, 64, stream.size() + 1};
  const size_t chunk = chunk_sizes[(mode >> 5) & 3];
  bool up = false;
  bool closed = false;
  std::string packet;
  size_t handshake_packets = 0;
  for (size_t at = 0; at < stream.size() && !closed;) {
    const size_t n = std::min(chunk, stream.size() - at);
    reader.Append(stream.substr(at, n));
    at += n;
    for (;;) {
      Result<bool> got = reader.Next(&packet);
      if (!got.ok()) {
        closed = true;
        break;
      }
      if (!*got) break;
      if (up) {
        if (!packet.empty()) CheckControlPacket(packet, limits);
        continue;
      }
      if (++handshake_packets > 64) {
        closed = true;
        break;
      }
      run.Feed(packet);
      if (run.done && (mode & kHsThenControl)) {
        up = true;
        reader.set_header_bytes(4);
      }
    }
  }
  if (run.done) FUZZ_CHECK(!run.Denies(), "a refused peer completed the handshake");
}
}  // namespace

void FuzzHandshake(const uint8_t* data, size_t size) {
  Guarded([&] { FuzzHandshakeImpl(data, size); });
}

namespace {
void FuzzRequestImpl(const uint8_t* data, size_t size) {
  if (size < 3) return;
  const uint8_t mode = data[0] % kReqModes;
  const uint8_t sel = data[1];
  const std::string in(reinterpret_cast<const char*>(data), size);
  const TermLimits limits;
  ServerFixture fx;
  size_t script_at;

  if (mode == kReqControl) {
    // The rest is a raw packet body ('p' implied) followed by (sel & 7)
    // script bytes: any operation, bytes exactly as a peer sent them.
    const size_t script_len = sel & 7;
    if (size < 2 + script_len) return;
    script_at = size - script_len;
    Result<ControlMessage> m = DecodeControlPacket("p" + in.substr(2, script_at - 2), limits);
    if (!m.ok()) return;
    if (m->message) CheckText(*m->message);
    if (m->message && m->message->is_list()) {
      for (size_t i = 0; i < m->message->size() && i < 8; ++i) CheckText((*m->message)[i]);
    }
    fx.request = *m;
    fx.server->OnControl(kReqPeer, std::move(m).value());
  } else {
    size_t pos = 2;
    Result<Term> t = DecodeVersioned(in, &pos, limits);
    if (!t.ok()) return;
    script_at = pos;
    // Text arguments as a model route would read them.
    CheckText(*t);
    if (t->is_tuple() || t->is_list()) {
      for (size_t i = 0; i < t->size() && i < 8; ++i) CheckText((*t)[i]);
    }
    std::optional<ControlMessage> m = BuildRequest(mode, sel, *t);
    if (!m) return;
    DeliverRequest(&fx, *m, limits);
  }

  bool draining = false;
  for (size_t i = script_at, n = 0; i < size && n < 64; ++i, ++n) {
    Signal(&fx, data[i], &draining, limits);
  }

  FUZZ_CHECK(fx.Drain(), "calls still in flight after 5 s (a hang or a lost completion)");
  FUZZ_CHECK(fx.server->processes() == 0,
             "virtual processes left behind with no call in flight: " +
                 std::to_string(fx.server->processes()));
  // In-flight accounting returns to zero, or the peer is refused for good.
  FUZZ_CHECK(fx.server->inflight_of(kReqPeer) == 0,
             "the peer's in-flight count leaked: " +
                 std::to_string(fx.server->inflight_of(kReqPeer)) + " with nothing in flight");
  FUZZ_CHECK(fx.Close() == 0, "uv loop still has handles after the dispatcher closed");

  // Everything the server sent must reach the peer: encodable, and decoded
  // by the peer as what we meant. A BEAM peer has no depth limit; replies
  // nest the caller's arguments a few levels deeper than they arrived.
  TermLimits peer_limits;
  peer_limits.max_depth = 4 * limits.max_depth;
  peer_limits.max_elements = ~size_t{0};
  for (const auto& [node, m] : fx.sent) {
    FUZZ_CHECK(node == kReqPeer, "reply addressed to node '" + node + "'");
    CheckRoundTrip(m, peer_limits, "reply to request input " + Hex(in));
  }
}
}  // namespace

void FuzzRequest(const uint8_t* data, size_t size) {
  Guarded([&] { FuzzRequestImpl(data, size); });
}

namespace {
void FuzzConfigImpl(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  Options o;
  Status s = ApplyConfigJson(text, &o);
  if (!s.ok()) {
    FUZZ_CHECK(!s.message().empty(), "config error without a message");
    return;
  }
  FUZZ_CHECK(o.net_ticktime_s >= 1 && o.net_ticktime_s <= 3600, "net_ticktime_s out of range");
  FUZZ_CHECK(o.handshake_timeout_ms >= 100 && o.handshake_timeout_ms <= 600000,
             "handshake_timeout_ms out of range");
  FUZZ_CHECK(o.workers <= 1024, "workers out of range");
  FUZZ_CHECK(o.metrics_port >= -1 && o.metrics_port <= 65535, "metrics_port out of range");
  FUZZ_CHECK(o.drain_timeout_s <= 3600, "drain_timeout_s out of range");
  FUZZ_CHECK(o.max_packet_bytes >= 1024 && o.max_packet_bytes <= (1ull << 31),
             "limits.max_packet_bytes out of range");
  FUZZ_CHECK(o.max_term_depth >= 4 && o.max_term_depth <= 10000, "limits.max_term_depth out of range");
  FUZZ_CHECK(o.max_term_elements >= 16 && o.max_term_elements <= (1ull << 32),
             "limits.max_term_elements out of range");
  FUZZ_CHECK(o.max_connections >= 1, "limits.max_connections out of range");
  FUZZ_CHECK(o.max_inflight_per_peer >= 1 && o.max_inflight_total >= 1,
             "limits.max_inflight_* out of range");
  for (const std::string& p : o.allowed_peers) FUZZ_CHECK(!p.empty(), "empty allowed_peers entry");
  for (const ModelConfig& m : o.models) {
    FUZZ_CHECK(!m.plugin.empty(), "model accepted without a plugin" + std::string(kData) + m.name);
    FUZZ_CHECK(m.instances >= 1 && m.instances <= 64, "instances out of range");
    FUZZ_CHECK(m.max_batch_size >= 1 && m.max_batch_size <= 65536, "max_batch_size out of range");
    FUZZ_CHECK(m.max_queue_delay_us <= 10000000, "max_queue_delay_us out of range");
    FUZZ_CHECK(m.max_queue >= 1 && m.max_queue <= 10000000, "max_queue out of range");
    FUZZ_CHECK(m.stuck_after_ms >= 10 && m.stuck_after_ms <= 3600000, "stuck_after_ms out of range");
    FUZZ_CHECK(!m.devices.empty(), "model without devices" + std::string(kData) + m.name);
    for (int d : m.devices) FUZZ_CHECK(d >= -1 && d <= 255, "device out of range");
    nlohmann::json opts = nlohmann::json::parse(m.options_json, nullptr, false);
    FUZZ_CHECK(opts.is_object(), "model options_json is not a JSON object" + std::string(kData) + m.options_json);
  }
  // Accepted numbers are the numbers written in the file (not a wrapped-
  // around 64-bit value that happens to land in range).
  auto exactly_in = [](const nlohmann::json& d, int64_t lo, int64_t hi) {
    if (d.is_number_unsigned()) return d.get<uint64_t>() <= static_cast<uint64_t>(hi);
    if (d.is_number_integer()) return d.get<int64_t>() >= lo && d.get<int64_t>() <= hi;
    return false;
  };
  nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_object() && doc.contains("metrics_port")) {
    FUZZ_CHECK(exactly_in(doc["metrics_port"], -1, 65535),
               "a metrics_port outside -1..65535 was accepted (as " +
                   std::to_string(o.metrics_port) + ")" + kData + doc["metrics_port"].dump());
  }
  if (doc.is_object() && doc.contains("models") && doc["models"].is_object()) {
    for (const ModelConfig& m : o.models) {
      const nlohmann::json& mj = doc["models"][m.name];
      if (!mj.is_object() || !mj.contains("devices")) continue;
      for (const auto& d : mj["devices"]) {
        FUZZ_CHECK(exactly_in(d, -1, 255), "a device ordinal outside -1..255 was accepted (as " +
                              std::to_string(m.devices.front()) + ", ...)" + kData + "device " +
                              d.dump() + " of model " + m.name);
      }
    }
  }
  Options with_defaults = o;
  ApplyDefaultModels(&with_defaults);
  FUZZ_CHECK(!with_defaults.models.empty(), "ApplyDefaultModels left no model");
  // What --check-config prints and checks, for any accepted configuration.
  std::string effective = EffectiveConfigJson(o, "/nonexistent/hornbeamd-fuzz");
  FUZZ_CHECK(nlohmann::json::parse(effective, nullptr, false).is_object(),
             "EffectiveConfigJson is not a JSON object" + kData + effective);
  CheckConfig(o, "/nonexistent/hornbeamd-fuzz");

#ifdef __linux__
  // The same text through ParseOptions (--config), which also cross-checks
  // routes against models. One memfd, rewritten per input.
  static int fd = memfd_create("hb_fuzz_config", 0);
  if (fd < 0) return;
  if (ftruncate(fd, 0) != 0) return;
  if (pwrite(fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) return;
  std::string path = "/proc/self/fd/" + std::to_string(fd);
  std::string a0 = "hornbeamd", a1 = "--config";
  char* argv[] = {a0.data(), a1.data(), path.data(), nullptr};
  Result<Options> parsed = ParseOptions(3, argv);
  if (parsed.ok() && !parsed->models.empty()) {
    for (const auto& [module, model] : parsed->routes) {
      bool found = false;
      for (const ModelConfig& m : parsed->models) found = found || m.name == model;
      FUZZ_CHECK(found, "route to a model that does not exist" + std::string(kData) + module +
                            " -> " + model);
    }
  }
#endif
}
}  // namespace

void FuzzConfig(const uint8_t* data, size_t size) {
  Guarded([&] { FuzzConfigImpl(data, size); });
}

}  // namespace hb::fuzz
