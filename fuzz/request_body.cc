// The request target's body, FuzzRequest (format in fuzz_bodies.h; the
// kReq* modes of byte 0 are below): a request and a script of signals into
// an RpcServer on a uv loop (ServerFixture).
#include <uv.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/utf8.h"
#include "daemon/dispatcher.h"
#include "daemon/health_service.h"
#include "daemon/metrics.h"
#include "daemon/router.h"
#include "daemon/rpc_server.h"
#include "daemon/text_args.h"
#include "daemon/worker_pool.h"
#include "ei_bridge/control.h"
#include "ei_bridge/dist_flags.h"
#include "ei_bridge/term.h"
#include "ei_bridge/term_validator.h"
#include "fuzz/fuzz_bodies.h"
#include "fuzz/fuzz_support.h"

namespace hb::fuzz {
namespace {

using internal::CheckRoundTrip;
using internal::Guarded;
using internal::HasPayload;
using internal::Hex;
using internal::kData;

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
  static WorkerPool* pool =
      new WorkerPool(1);  // never destroyed: workers may outlive main's statics
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
    {"health", "ping"}, {"health", "check"}, {"health", "sleep"}, {"metrics", "get_all"},
    {"os", "cmd"},      {"erlang", "halt"},  {"ml", "embed"},     {"health", ""},
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
        return RegSend(
            A("rex"),
            Term::Tuple({PeerPid(100), Term::Tuple({A("call"), mod, fun, args, A("user")})}));
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
  FUZZ_CHECK(IsValidUtf8(*text),
             "TermToText produced invalid UTF-8" + std::string(kData) + t.Describe());
  if (t.is_binary()) FUZZ_CHECK(*text == t.text(), "TermToText changed a valid UTF-8 binary");
}

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
  FUZZ_CHECK(fx.server->processes() == 0, "virtual processes left behind with no call in flight: " +
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

}  // namespace hb::fuzz
