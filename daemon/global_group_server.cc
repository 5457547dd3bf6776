#include "daemon/global_group_server.h"

#include <algorithm>

namespace hb {
namespace {

Term Atom(const char* a) { return Term::Atom(a); }

// A sorted list of node atoms, as lists:sort/1 of them would give.
std::vector<std::string> SortedNodes(const Term& list) {
  std::vector<std::string> out;
  for (const Term& n : list.items()) out.push_back(n.is_atom() ? n.text() : "");
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

GlobalGroupServer::GlobalGroupServer(
    ProcessContext* ctx, const std::map<std::string, std::vector<std::string>>& groups)
    : ctx_(ctx) {
  for (const auto& [name, nodes] : groups) {
    if (std::find(nodes.begin(), nodes.end(), ctx_->node_name()) != nodes.end()) {
      group_ = name;
      nodes_ = nodes;
      std::sort(nodes_.begin(), nodes_.end());
      break;
    }
  }
}

Term GlobalGroupServer::OwnNodes() const {
  std::vector<Term> out;
  for (const std::string& n : nodes_) out.push_back(Term::Atom(n));
  return Term::List(std::move(out));
}

bool GlobalGroupServer::Agrees(const Term& name, const Term& pub_type, const Term& nodes) const {
  if (group_.empty() || !nodes.is_proper_list()) return false;
  if (!name.is_nil() && !name.is_atom(group_)) return false;
  if (!pub_type.is_nil() && !pub_type.is_atom("normal")) return false;
  return SortedNodes(nodes) == nodes_;
}

Term GlobalGroupServer::AddCheck(const Term& pub_type, const Term& nodes) const {
  return Atom(Agrees(Term(), pub_type, nodes) ? "agreed" : "not_agreed");
}

void GlobalGroupServer::OnMessage(const std::string& node, const Term& msg) {
  if (msg.is_tuple(2) && msg[0].is_atom("$gen_cast")) {
    // {conf_check, Vsn, Node, {Pid, Session}, sync, Name, [PubType,] Nodes}
    const Term& c = msg[1];
    if (c.is_tuple() && (c.size() == 7 || c.size() == 8) && c[0].is_atom("conf_check") &&
        c[3].is_tuple(2) && c[3][0].is_pid() && c[3][0].pid().node == node) {
      ++conf_checks_;
      bool ok = c.size() == 8 ? Agrees(c[5], c[6], c[7]) : Agrees(c[5], Atom("normal"), c[6]);
      Term answer = Term::Tuple({Atom(ok ? "config_ok" : "config_error"), c[1], c[3],
                                 Term::Atom(ctx_->node_name())});
      ctx_->Send(node, MakeSend(c[3][0], answer));
    }
    return;
  }
  if (msg.is_tuple(3) && msg[0].is_atom("$gen_call") && msg[1].is_tuple(2) &&
      msg[1][0].is_pid()) {
    Term reply = msg[2].is_atom("own_nodes")
                     ? OwnNodes()
                     : Term::Tuple({Atom("error"), Term::Tuple({Atom("not_supported"), msg[2]})});
    ctx_->Send(node, MakeSend(msg[1][0], Term::Tuple({msg[1][1], reply})));
  }
}

void AddGlobalGroupRoutes(Router* router, const GlobalGroupServer* server) {
  auto inline_route = [](Route::RunFn run) {
    Route r;
    r.execution = Route::Execution::kInline;
    r.run = std::move(run);
    return r;
  };
  router->Add("global_group", "ng_add_check", 2, inline_route([server](const CallRequest& req) {
    return CallOutcome::Return(server->AddCheck(Atom("normal"), req.args[1]));
  }));
  router->Add("global_group", "ng_add_check", 3, inline_route([server](const CallRequest& req) {
    return CallOutcome::Return(server->AddCheck(req.args[1], req.args[2]));
  }));
  router->Add("global_group", "get_own_nodes", 0, inline_route([server](const CallRequest&) {
    return CallOutcome::Return(server->OwnNodes());
  }));
  router->Add("global_group", "get_own_nodes_with_errors", 0,
              inline_route([server](const CallRequest&) {
                Term nodes = server->OwnNodes();
                return CallOutcome::Return(
                    Term::Tuple({Atom("ok"), nodes.is_nil() ? Atom("all") : nodes}));
              }));
}

}  // namespace hb
