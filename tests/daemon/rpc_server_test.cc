// RpcServer driven with decoded control messages, its sends captured: the
// signal semantics of virtual processes without sockets.
#include "daemon/rpc_server.h"

#include <catch2/catch.hpp>
#include <uv.h>

#include "tests/daemon/rpc_fixture.h"

namespace hb {
namespace {

using rpc_fixture::Fixture;
using rpc_fixture::kPeer;
using rpc_fixture::PeerPid;
using rpc_fixture::PeerRef;

TEST_CASE("erpc call: SPAWN_REPLY then MONITOR_P_EXIT with {Ref, return, Value}", "[rpc_server]") {
  Fixture fx;
  Term caller = PeerPid(100);
  Term req = PeerRef(1);
  Term ref = PeerRef(2);
  fx.server->OnControl(kPeer, fx.SpawnErpc(caller, req, ref, "health", "ping", Term::Nil()));
  REQUIRE(fx.sent.size() == 2);
  const ControlMessage& reply = fx.sent[0].second;
  CHECK(reply.op == ControlOp::kSpawnReply);
  CHECK(reply.ref == req);
  CHECK(reply.to == caller);
  CHECK(reply.flags == 2);
  REQUIRE(reply.result.is_pid());
  CHECK(reply.result.pid().node == "gpu@host");
  CHECK(reply.result.pid().creation == 42u);
  const ControlMessage& down = fx.sent[1].second;
  CHECK(down.op == ControlOp::kMonitorPExit);
  CHECK(down.from == reply.result);
  CHECK(down.to == caller);
  CHECK(down.ref == req);
  CHECK(down.reason == Term::Tuple({ref, Term::Atom("return"), Term::Atom("pong")}));
  CHECK(fx.server->processes() == 0);
}

TEST_CASE("erpc call of an unrouted function exits with undef and the BEAM's stack", "[rpc_server]") {
  Fixture fx;
  Term ref = PeerRef(2);
  Term args = Term::List({Term::Binary("echo hi")});
  fx.server->OnControl(kPeer, fx.SpawnErpc(PeerPid(1), PeerRef(1), ref, "os", "cmd", args));
  REQUIRE(fx.sent.size() == 2);
  Term frame = Term::Tuple({Term::Atom("os"), Term::Atom("cmd"), args, Term::Nil()});
  CHECK(fx.sent[1].second.reason ==
        Term::Tuple({ref, Term::Atom("error"), Term::Atom("undef"), Term::List({frame})}));
}

TEST_CASE("wrong arity is undef too", "[rpc_server]") {
  Fixture fx;
  Term ref = PeerRef(2);
  Term args = Term::List({Term::Int(1)});
  fx.server->OnControl(kPeer, fx.SpawnErpc(PeerPid(1), PeerRef(1), ref, "health", "ping", args));
  REQUIRE(fx.sent.size() == 2);
  CHECK(fx.sent[1].second.reason[2].is_atom("undef"));
}

TEST_CASE("DEMONITOR_P from the caller cancels queued work", "[rpc_server]") {
  Fixture fx;
  Term caller = PeerPid(5);
  Term req = PeerRef(9);
  // Occupy both workers so the next call waits in the queue.
  for (uint32_t i = 0; i < 2; ++i) {
    fx.server->OnControl(kPeer, fx.SpawnErpc(PeerPid(50 + i), PeerRef(50 + i), PeerRef(60 + i),
                                             "health", "sleep", Term::List({Term::Int(300)})));
  }
  fx.server->OnControl(kPeer, fx.SpawnErpc(caller, req, PeerRef(10), "health", "sleep",
                                           Term::List({Term::Int(300)})));
  REQUIRE(fx.dispatcher->inflight() == 3);
  Term pid = fx.sent.back().second.result;
  ControlMessage demon;
  demon.op = ControlOp::kDemonitorP;
  demon.from = caller;
  demon.to = pid;
  demon.ref = req;
  fx.server->OnControl(kPeer, demon);
  CHECK(fx.dispatcher->inflight() == 2);
  CHECK(fx.metrics.cancelled_total() == 1);
  REQUIRE(fx.RunUntil([&] { return fx.dispatcher->inflight() == 0; }));
  // Only the two uncancelled sleeps reported back.
  size_t exits = 0;
  for (auto& [n, m] : fx.sent) {
    if (m.op == ControlOp::kMonitorPExit) {
      ++exits;
      CHECK(m.to != caller);
    }
  }
  CHECK(exits == 2);
}

TEST_CASE("peer going down cancels its calls and drops its monitors", "[rpc_server]") {
  Fixture fx;
  fx.server->OnControl(kPeer, fx.SpawnErpc(PeerPid(5), PeerRef(9), PeerRef(10), "health",
                                           "sleep", Term::List({Term::Int(2000)})));
  REQUIRE(fx.dispatcher->inflight() == 1);
  fx.server->OnPeerDown(kPeer);
  CHECK(fx.dispatcher->inflight() == 0);
  CHECK(fx.server->processes() == 0);
}

TEST_CASE("link option: the caller gets an EXIT with the result reason", "[rpc_server]") {
  Fixture fx;
  Term caller = PeerPid(5);
  fx.server->OnControl(kPeer, fx.SpawnErpc(caller, PeerRef(9), PeerRef(10), "health", "ping",
                                           Term::Nil(), {Term::Atom("link")}));
  REQUIRE(fx.sent.size() == 2);
  CHECK(fx.sent[0].second.flags == 1);
  CHECK(fx.sent[1].second.op == ControlOp::kExit);
  CHECK(fx.sent[1].second.to == caller);
}

TEST_CASE("exit signal kill terminates a running call with killed", "[rpc_server]") {
  Fixture fx;
  Term caller = PeerPid(5);
  Term req = PeerRef(9);
  fx.server->OnControl(kPeer, fx.SpawnErpc(caller, req, PeerRef(10), "health", "sleep",
                                           Term::List({Term::Int(2000)})));
  Term pid = fx.sent[0].second.result;
  ControlMessage ex;
  ex.op = ControlOp::kExit2;
  ex.from = PeerPid(77);
  ex.to = pid;
  ex.reason = Term::Atom("kill");
  fx.server->OnControl(kPeer, ex);
  REQUIRE(fx.sent.size() == 2);
  CHECK(fx.sent[1].second.op == ControlOp::kMonitorPExit);
  CHECK(fx.sent[1].second.reason.is_atom("killed"));
  CHECK(fx.dispatcher->inflight() == 0);
}

TEST_CASE("exit signal normal is ignored by a non-trapping process", "[rpc_server]") {
  Fixture fx;
  fx.server->OnControl(kPeer, fx.SpawnErpc(PeerPid(5), PeerRef(9), PeerRef(10), "health",
                                           "sleep", Term::List({Term::Int(50)})));
  Term pid = fx.sent[0].second.result;
  ControlMessage ex;
  ex.op = ControlOp::kExit2;
  ex.from = PeerPid(77);
  ex.to = pid;
  ex.reason = Term::Atom("normal");
  fx.server->OnControl(kPeer, ex);
  CHECK(fx.dispatcher->inflight() == 1);
  REQUIRE(fx.RunUntil([&] { return fx.sent.size() == 2; }));
  CHECK(fx.sent[1].second.reason[1].is_atom("return"));
}

TEST_CASE("monitoring a dead pid or unknown name answers noproc at once", "[rpc_server]") {
  Fixture fx;
  ControlMessage mon;
  mon.op = ControlOp::kMonitorP;
  mon.from = PeerPid(5);
  mon.to = Term::MakePid({"gpu@host", 999, 0, 42});
  mon.ref = PeerRef(3);
  fx.server->OnControl(kPeer, mon);
  mon.to = Term::Atom("no_such_server");
  fx.server->OnControl(kPeer, mon);
  mon.to = Term::Atom("rex");
  fx.server->OnControl(kPeer, mon);
  REQUIRE(fx.sent.size() == 2);
  CHECK(fx.sent[0].second.reason.is_atom("noproc"));
  CHECK(fx.sent[1].second.from.is_atom("no_such_server"));
}

TEST_CASE("UNLINK_ID is acknowledged", "[rpc_server]") {
  Fixture fx;
  ControlMessage u;
  u.op = ControlOp::kUnlinkId;
  u.ref = Term::Int(17);
  u.from = PeerPid(5);
  u.to = Term::MakePid({"gpu@host", 3, 0, 42});
  fx.server->OnControl(kPeer, u);
  REQUIRE(fx.sent.size() == 1);
  CHECK(fx.sent[0].second.op == ControlOp::kUnlinkIdAck);
  CHECK(fx.sent[0].second.ref == Term::Int(17));
  CHECK(fx.sent[0].second.from == u.to);
  CHECK(fx.sent[0].second.to == u.from);
}

TEST_CASE("net_kernel is_auth is answered yes with the caller's tag", "[rpc_server]") {
  Fixture fx;
  Term caller = PeerPid(5);
  Term tag = Term::ImproperList({Term::Atom("alias")}, PeerRef(4));
  ControlMessage m;
  m.op = ControlOp::kRegSend;
  m.from = caller;
  m.to = Term::Atom("net_kernel");
  m.message = Term::Tuple({Term::Atom("$gen_call"), Term::Tuple({caller, tag}),
                           Term::Tuple({Term::Atom("is_auth"), Term::Atom(kPeer)})});
  fx.server->OnControl(kPeer, m);
  REQUIRE(fx.sent.size() == 1);
  CHECK(fx.sent[0].second.op == ControlOp::kSend);
  CHECK(fx.sent[0].second.to == caller);
  CHECK(*fx.sent[0].second.message == Term::Tuple({tag, Term::Atom("yes")}));
}

TEST_CASE("rex call replies like rpc:execute_call", "[rpc_server]") {
  Fixture fx;
  Term caller = PeerPid(5);
  Term tag = PeerRef(4);
  auto rex = [&](const char* m, const char* f, Term args) {
    ControlMessage msg;
    msg.op = ControlOp::kRegSend;
    msg.from = caller;
    msg.to = Term::Atom("rex");
    msg.message = Term::Tuple(
        {Term::Atom("$gen_call"), Term::Tuple({caller, tag}),
         Term::Tuple({Term::Atom("call"), Term::Atom(m), Term::Atom(f), args, Term::Atom("user")})});
    fx.server->OnControl(kPeer, msg);
  };
  rex("health", "ping", Term::Nil());
  rex("nosuch", "f", Term::Nil());
  REQUIRE(fx.sent.size() == 2);
  CHECK(*fx.sent[0].second.message == Term::Tuple({tag, Term::Atom("pong")}));
  Term undef = Term::Tuple(
      {Term::Atom("badrpc"),
       Term::Tuple({Term::Atom("EXIT"),
                    Term::Tuple({Term::Atom("undef"),
                                 Term::List({Term::Tuple({Term::Atom("nosuch"), Term::Atom("f"),
                                                          Term::Nil(), Term::Nil()})})})})});
  CHECK(*fx.sent[1].second.message == Term::Tuple({tag, undef}));
}

TEST_CASE("a spawn request from a pid of another node is ignored", "[rpc_server]") {
  Fixture fx;
  Term foreign = Term::MakePid({"other@host", 1, 0, 1});
  fx.server->OnControl(kPeer, fx.SpawnErpc(foreign, PeerRef(1), PeerRef(2), "health", "ping",
                                           Term::Nil()));
  CHECK(fx.sent.empty());
}

}  // namespace
}  // namespace hb

namespace hb {
namespace {

TEST_CASE("calls over the per-peer limit are refused like a spawn at the process limit",
          "[rpc_server][limits]") {
  Fixture fx;
  fx.server->set_limits(2, 100, &fx.metrics);
  for (uint32_t i = 0; i < 3; ++i) {
    fx.server->OnControl(kPeer, fx.SpawnErpc(PeerPid(10 + i), PeerRef(10 + i), PeerRef(20 + i),
                                             "health", "sleep", Term::List({Term::Int(200)})));
  }
  REQUIRE(fx.sent.size() == 3);
  CHECK(fx.sent[0].second.result.is_pid());
  CHECK(fx.sent[1].second.result.is_pid());
  CHECK(fx.sent[2].second.result.is_atom("system_limit"));
  CHECK(fx.server->inflight_of(kPeer) == 2);
  CHECK(fx.metrics.rejected_by_reason().at("inflight_per_peer") == 1);
  // Another node still gets through: limits are per peer.
  Term other = Term::MakePid({"other@host", 1, 0, 3});
  fx.server->OnControl("other@host", fx.SpawnErpc(other, Term::MakeRef({"other@host", 3, {1}}),
                                                  Term::MakeRef({"other@host", 3, {2}}), "health",
                                                  "ping", Term::Nil()));
  CHECK(fx.sent.back().second.op == ControlOp::kMonitorPExit);
  // Once the calls finish the peer may call again.
  REQUIRE(fx.RunUntil([&] { return fx.server->inflight_of(kPeer) == 0; }));
}

TEST_CASE("the total limit applies across peers", "[rpc_server][limits]") {
  Fixture fx;
  fx.server->set_limits(100, 1, &fx.metrics);
  fx.server->OnControl(kPeer, fx.SpawnErpc(PeerPid(1), PeerRef(1), PeerRef(2), "health", "sleep",
                                           Term::List({Term::Int(100)})));
  Term other = Term::MakePid({"other@host", 1, 0, 3});
  fx.server->OnControl("other@host", fx.SpawnErpc(other, Term::MakeRef({"other@host", 3, {1}}),
                                                  Term::MakeRef({"other@host", 3, {2}}), "health",
                                                  "ping", Term::Nil()));
  CHECK(fx.sent.back().second.result.is_atom("system_limit"));
  CHECK(fx.metrics.rejected_by_reason().at("inflight_total") == 1);
  REQUIRE(fx.RunUntil([&] { return fx.dispatcher->inflight() == 0; }));
}

TEST_CASE("metrics count each call's argument and result bytes", "[rpc_server][metrics]") {
  Fixture f;
  Term args = Term::List({Term::Int(1)});
  f.server->OnControl(kPeer, f.SpawnErpc(PeerPid(1), PeerRef(1), PeerRef(2), "health", "sleep", args));
  f.server->OnControl(kPeer, f.SpawnErpc(PeerPid(1), PeerRef(3), PeerRef(4), "health", "sleep", args));
  f.server->OnControl(kPeer, f.SpawnErpc(PeerPid(1), PeerRef(5), PeerRef(6), "nosuch", "f", args));
  REQUIRE(f.RunUntil([&] { return f.metrics.requests_total() == 3; }));
  std::string arg_bytes, ok_bytes;
  REQUIRE(EncodeTerm(args, &arg_bytes).ok());
  REQUIRE(EncodeTerm(Term::Atom("ok"), &ok_bytes).ok());
  const CallStats& sleep = f.metrics.calls().at({"health", "sleep"});
  CHECK(sleep.bytes_in == 2 * arg_bytes.size());
  CHECK(sleep.bytes_out == 2 * ok_bytes.size());
  // An error's reason and stack are what its caller receives.
  const CallStats& undef = f.metrics.calls().at({"$unrouted", "$unrouted"});
  CallOutcome u = CallOutcome::Undef("nosuch", "f", args);
  std::string undef_bytes;
  REQUIRE(EncodeTerm(Term::Tuple({u.value, u.stack}), &undef_bytes).ok());
  CHECK(undef.bytes_in == arg_bytes.size());
  CHECK(undef.bytes_out == undef_bytes.size() - 2);  // less the tuple header
}

}  // namespace
}  // namespace hb
