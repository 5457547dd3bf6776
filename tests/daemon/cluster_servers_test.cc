// The daemon's cluster servers against a fake ProcessContext: what global's
// name server, the pg scope and a model process send for what they receive.
#include <catch2/catch.hpp>

#include "daemon/global_group_server.h"
#include "daemon/global_server.h"
#include "daemon/model_process.h"
#include "daemon/pg_scope.h"

namespace hb {
namespace {

Term A(const char* a) { return Term::Atom(a); }
Term P(const char* node, uint32_t n) { return Term::MakePid({node, n, 0, 1}); }

struct FakeContext : ProcessContext {
  std::string name = "x@h";
  std::vector<std::pair<std::string, ControlMessage>> sent;
  std::vector<std::string> peers;
  uint32_t next_ref = 1;
  std::vector<CallRequest> calls;
  std::vector<DoneFn> dones;
  std::vector<uint64_t> cancelled;
  bool connected = true;

  const std::string& node_name() const override { return name; }
  bool Send(const std::string& node, const ControlMessage& m) override {
    sent.emplace_back(node, m);
    return connected;
  }
  Term MakeRef() override { return Term::MakeRef({name, 1, {next_ref++, 0, 0}}); }
  std::vector<std::string> Peers() const override { return peers; }
  uint64_t Call(const std::string&, CallRequest req, DoneFn done) override {
    calls.push_back(std::move(req));
    dones.push_back(std::move(done));
    return calls.size();
  }
  void CancelCall(uint64_t id) override { cancelled.push_back(id); }
  Term Monitor(const Term& watcher, const Term& target) override {
    if (!connected) return Term();
    ControlMessage m;
    m.op = ControlOp::kMonitorP;
    m.from = watcher;
    m.to = target;
    m.ref = MakeRef();
    sent.emplace_back(target.pid().node, m);
    return m.ref;
  }
  void Demonitor(const Term& watcher, const Term& target, const Term& ref) override {
    ControlMessage m;
    m.op = ControlOp::kDemonitorP;
    m.from = watcher;
    m.to = target;
    m.ref = ref;
    sent.emplace_back(target.pid().node, m);
  }
};

Term GenCall(const Term& from, const Term& tag, const Term& req) {
  return Term::Tuple({A("$gen_call"), Term::Tuple({from, tag}), req});
}

TEST_CASE("global_name_server answers init_connect with in_sync", "[cluster]") {
  FakeContext ctx;
  GlobalServer g(&ctx);
  g.set_pid(P("x@h", 1));
  g.OnMessage("a@h", Term::Tuple({A("$gen_cast"),
                                  Term::Tuple({A("init_connect"), Term::Tuple({Term::Int(8), A("t")}),
                                               A("a@h"), A("locker")})}));
  REQUIRE(ctx.sent.size() == 1);
  const ControlMessage& m = ctx.sent[0].second;
  CHECK(m.op == ControlOp::kRegSend);
  CHECK(m.to == A("global_name_server"));
  CHECK(*m.message == Term::Tuple({A("$gen_cast"), Term::Tuple({A("in_sync"), A("x@h"), A("true")})}));
  CHECK(g.syncs_answered() == 1);
}

TEST_CASE("global_name_server: set_lock monitors the holder, del_lock demonitors", "[cluster]") {
  FakeContext ctx;
  GlobalServer g(&ctx);
  g.set_pid(P("x@h", 1));
  Term caller = P("a@h", 7);
  Term id = Term::Tuple({A("r"), A("req")});
  g.OnMessage("a@h", GenCall(caller, A("tag1"), Term::Tuple({A("set_lock"), id})));
  REQUIRE(ctx.sent.size() == 2);
  CHECK(ctx.sent[0].second.op == ControlOp::kMonitorP);
  CHECK(*ctx.sent[1].second.message == Term::Tuple({A("tag1"), A("true")}));
  g.OnMessage("b@h", GenCall(P("b@h", 8), A("tag2"),
                             Term::Tuple({A("set_lock"), Term::Tuple({A("r"), A("other")})})));
  CHECK(*ctx.sent.back().second.message == Term::Tuple({A("tag2"), A("false")}));
  g.OnMessage("a@h", GenCall(caller, A("tag3"), Term::Tuple({A("del_lock"), id})));
  CHECK(ctx.sent[ctx.sent.size() - 2].second.op == ControlOp::kDemonitorP);
  CHECK(*ctx.sent.back().second.message == Term::Tuple({A("tag3"), A("true")}));
  CHECK(g.locks().empty());
}

TEST_CASE("global_name_server answers every other call; the holder's DOWN frees", "[cluster]") {
  FakeContext ctx;
  GlobalServer g(&ctx);
  g.set_pid(P("x@h", 1));
  g.OnMessage("a@h", GenCall(P("a@h", 7), A("t"), A("get_known")));
  CHECK(*ctx.sent.back().second.message == Term::Tuple({A("t"), Term::Nil()}));
  g.OnMessage("a@h", GenCall(P("a@h", 7), A("t"), Term::Tuple({A("whatever"), A("x")})));
  CHECK(ctx.sent.back().second.message->is_tuple(2));
  g.OnMessage("a@h", GenCall(P("a@h", 7), A("t"),
                             Term::Tuple({A("set_lock"), Term::Tuple({A("r"), A("q")})})));
  Term ref = ctx.sent[ctx.sent.size() - 2].second.ref;
  g.OnDown(ref, A("normal"));
  CHECK(g.locks().empty());
}

TEST_CASE("pg scope: discover gets a sync of the groups and a discover back", "[cluster]") {
  FakeContext ctx;
  PgScope s(&ctx, "hornbeam");
  s.set_pid(P("x@h", 2));
  s.Join(A("hornbeam_nodes"), P("x@h", 2));
  CHECK(ctx.sent.empty());  // no peer scope yet
  Term peer = P("a@h", 40);
  s.OnMessage("a@h", Term::Tuple({A("discover"), peer}));
  REQUIRE(ctx.sent.size() == 2);
  Term groups = Term::List({Term::Tuple({A("hornbeam_nodes"), Term::List({P("x@h", 2)})})});
  CHECK(*ctx.sent[0].second.message ==
        Term::Tuple({A("$gen_cast"), Term::Tuple({A("sync"), P("x@h", 2), groups})}));
  CHECK(*ctx.sent[1].second.message == Term::Tuple({A("discover"), P("x@h", 2)}));
  // A second discover (OTP 28+ form) is answered with a sync only.
  s.OnMessage("a@h", Term::Tuple({A("discover"), peer, Term::Map({})}));
  CHECK(ctx.sent.size() == 3);
  Term g = Term::Tuple({A("model"), A("m")});
  s.Join(g, P("x@h", 3));
  CHECK(*ctx.sent.back().second.message ==
        Term::Tuple({A("join"), P("x@h", 2), g, Term::List({P("x@h", 3)})}));
  s.LeaveAll(P("x@h", 3));
  CHECK(*ctx.sent.back().second.message ==
        Term::Tuple({A("leave"), P("x@h", 2), Term::List({P("x@h", 3)}), Term::List({g})}));
  s.OnPeerDown("a@h");
  s.Join(g, P("x@h", 4));
  CHECK(ctx.sent.size() == 5);  // nobody left to tell
}

TEST_CASE("pg scope discovers every peer that comes up", "[cluster]") {
  FakeContext ctx;
  ctx.peers = {"a@h", "b@h"};
  PgScope s(&ctx, "hornbeam");
  s.set_pid(P("x@h", 2));
  s.DiscoverAll();
  s.OnPeerUp("c@h");
  REQUIRE(ctx.sent.size() == 3);
  CHECK(ctx.sent[2].first == "c@h");
  CHECK(ctx.sent[2].second.op == ControlOp::kRegSend);
  CHECK(ctx.sent[2].second.to == A("hornbeam"));
  // a@h's scope answers; b@h has none yet: only b@h is asked again.
  s.OnMessage("a@h", Term::Tuple({A("$gen_cast"), Term::Tuple({A("sync"), P("a@h", 9),
                                                               Term::Nil()})}));
  ctx.sent.clear();
  s.Rediscover();
  REQUIRE(ctx.sent.size() == 1);
  CHECK(ctx.sent[0].first == "b@h");
}

TEST_CASE("model process: calls run the ml functions, errors reply {error, R}", "[cluster]") {
  FakeContext ctx;
  ModelProcess m(&ctx, "default", "$model/default");
  m.set_pid(P("x@h", 3));
  Term mref = Term::MakeRef({"a@h", 1, {9, 0, 0}});
  Term tag = Term::ImproperList({A("alias")}, mref);
  m.OnMessage("a@h", GenCall(P("a@h", 5), tag, Term::Tuple({A("encode"), Term::Binary("t")})));
  REQUIRE(ctx.calls.size() == 1);
  CHECK(ctx.calls[0].module == "$model/default");
  CHECK(ctx.calls[0].function == "encode");
  CHECK(ctx.calls[0].args == Term::List({Term::Binary("t")}));
  CHECK(m.inflight() == 1);
  ctx.dones[0](CallOutcome::Return(A("vec")));
  CHECK(*ctx.sent.back().second.message == Term::Tuple({tag, A("vec")}));
  CHECK(m.inflight() == 0);

  m.OnMessage("a@h", GenCall(P("a@h", 5), tag, A("info")));
  CHECK(ctx.calls[1].args == Term::List({A("default")}));
  ctx.dones[1](CallOutcome::Exit(Term::Tuple({A("model_unavailable"), A("default")})));
  CHECK(*ctx.sent.back().second.message ==
        Term::Tuple({tag, Term::Tuple({A("error"), Term::Tuple({A("model_unavailable"),
                                                                A("default")})})}));
  m.OnMessage("a@h", GenCall(P("a@h", 5), tag, A("nonsense")));
  CHECK(ctx.calls.size() == 2);
}

TEST_CASE("model process: the caller's DEMONITOR or its node's loss cancels the call",
          "[cluster]") {
  FakeContext ctx;
  ModelProcess m(&ctx, "default", "$model/default");
  Term mref = Term::MakeRef({"a@h", 1, {9, 0, 0}});
  Term tag = Term::ImproperList({A("alias")}, mref);
  Term req = Term::Tuple({A("batch_encode"), Term::List({Term::Binary("t")})});
  m.OnMessage("a@h", GenCall(P("a@h", 5), tag, req));
  m.OnDemonitor(mref);
  CHECK(ctx.cancelled == std::vector<uint64_t>{1});
  m.OnMessage("b@h", GenCall(P("b@h", 5), Term::MakeRef({"b@h", 1, {1, 0, 0}}), req));
  m.OnPeerDown("b@h");
  CHECK(ctx.cancelled == std::vector<uint64_t>{1, 2});
  CHECK(m.inflight() == 0);
}

}  // namespace
}  // namespace hb

namespace hb {
namespace {

TEST_CASE("global_group: get_own_nodes, ng_add_check and conf_check follow the configured group",
          "[cluster]") {
  FakeContext ctx;
  std::map<std::string, std::vector<std::string>> groups = {
      {"other", {"q@h", "r@h"}}, {"grp", {"x@h", "a@h"}}};
  GlobalGroupServer g(&ctx, groups);
  CHECK(g.OwnNodes() == Term::List({A("a@h"), A("x@h")}));
  CHECK(g.AddCheck(A("normal"), Term::List({A("x@h"), A("a@h")})) == A("agreed"));
  CHECK(g.AddCheck(A("normal"), Term::List({A("x@h")})) == A("not_agreed"));
  CHECK(g.AddCheck(A("hidden"), Term::List({A("x@h"), A("a@h")})) == A("not_agreed"));
  Term from = Term::Tuple({P("a@h", 3), A("session")});
  auto check = [&](const char* name, Term nodes) {
    g.OnMessage("a@h", Term::Tuple({A("$gen_cast"),
                                    Term::Tuple({A("conf_check"), Term::Int(3), A("a@h"), from,
                                                 A("sync"), A(name), A("normal"), nodes})}));
    return (*ctx.sent.back().second.message)[0];
  };
  CHECK(check("grp", Term::List({A("a@h"), A("x@h")})) == A("config_ok"));
  CHECK(check("grp", Term::List({A("a@h")})) == A("config_error"));
  CHECK(check("nope", Term::List({A("a@h"), A("x@h")})) == A("config_error"));
  CHECK(g.conf_checks() == 3);
  GlobalGroupServer none(&ctx, {});
  CHECK(none.OwnNodes().is_nil());  // as a BEAM node without global_groups
}

}  // namespace
}  // namespace hb
