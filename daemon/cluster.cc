#include "daemon/cluster.h"

#include <algorithm>

#include "base/log.h"
#include "daemon/model_registry.h"

namespace hb {
namespace {

Term Atom(const char* a) { return Term::Atom(a); }

}  // namespace

Cluster::Cluster(RpcServer* server, Router* router, ClusterOptions options)
    : server_(server), router_(router), options_(std::move(options)) {}

Cluster::~Cluster() = default;

void Cluster::Start() {
  if (options_.visible) {
    global_ = std::make_shared<GlobalServer>(server_->context());
    global_->set_pid(server_->StartServer("global_name_server", global_));
    global_group_ = std::make_shared<GlobalGroupServer>(server_->context(), options_.global_groups);
    server_->StartServer("global_group", global_group_);
    AddGlobalGroupRoutes(router_, global_group_.get());
  }
  scope_ = std::make_shared<PgScope>(server_->context(), options_.pg_scope);
  Term pid = server_->StartServer(options_.pg_scope, scope_);
  if (!pid.is_pid()) {
    HB_LOG_ERROR("pg scope '" + options_.pg_scope + "' clashes with a registered name; no pg");
    scope_.reset();
    return;
  }
  scope_->set_pid(pid);
  scope_->Join(Atom("hornbeam_nodes"), pid);
  scope_->DiscoverAll();
}

void Cluster::StartModel(const std::string& name) {
  auto p = std::make_shared<ModelProcess>(server_->context(), name, ModelModule(name));
  Term pid = server_->StartServer(options_.model_process_prefix + name, p);
  if (!pid.is_pid()) {
    HB_LOG_ERROR("model '" + name + "': the name '" + options_.model_process_prefix + name +
                 "' is taken; it has no process");
    return;
  }
  p->set_pid(pid);
  models_[name] = p;
  if (scope_) scope_->Join(Term::Tuple({Atom("model"), Term::Atom(name)}), pid);
}

void Cluster::ExitModel(const std::string& name, const Term& reason) {
  auto it = models_.find(name);
  if (it == models_.end()) return;
  std::shared_ptr<ModelProcess> p = it->second;
  models_.erase(it);
  if (scope_) scope_->LeaveAll(p->pid());
  p->CancelAll();
  server_->ExitServer(p->pid(), reason);
}

void Cluster::SetModels(const std::vector<std::string>& serving) {
  if (stopped_) return;
  std::vector<std::string> gone;
  for (const auto& [name, p] : models_) {
    if (std::find(serving.begin(), serving.end(), name) == serving.end()) gone.push_back(name);
  }
  Term unloaded = Term::Tuple({Atom("shutdown"), Atom("unloaded")});
  for (const std::string& name : gone) ExitModel(name, unloaded);
  for (const std::string& name : serving) {
    if (!models_.count(name)) StartModel(name);
  }
}

void Cluster::Stop() {
  if (stopped_) return;
  stopped_ = true;
  std::vector<std::string> names;
  for (const auto& [name, p] : models_) names.push_back(name);
  for (const std::string& name : names) ExitModel(name, Atom("shutdown"));
  if (scope_) server_->ExitServer(scope_->pid(), Atom("shutdown"));
  scope_.reset();
  // global_name_server stays until the connections close: peers' global
  // still expects answers while the node is draining.
}

void Cluster::Tick() {
  if (scope_) scope_->Rediscover();
}

Term Cluster::Describe() const {
  std::vector<std::pair<Term, Term>> models;
  for (const auto& [name, p] : models_) {
    models.push_back({Term::Atom(name), Term::Map({{Atom("pid"), p->pid()},
                                                   {Atom("registered_name"),
                                                    Term::Atom(options_.model_process_prefix + name)},
                                                   {Atom("inflight"),
                                                    Term::Int(static_cast<int64_t>(p->inflight()))}})});
  }
  Term global = Atom("none");
  if (global_) {
    global = Term::Map(
        {{Atom("mode"), Atom("passive")},
         {Atom("group_conf_checks"),
          Term::Int(static_cast<int64_t>(global_group_ ? global_group_->conf_checks() : 0))},
         {Atom("syncs_answered"), Term::Int(static_cast<int64_t>(global_->syncs_answered()))},
         {Atom("locks"), Term::Int(static_cast<int64_t>(global_->locks().locks().size()))}});
  }
  Term scope = Atom("none");
  if (scope_) {
    scope = Term::Map({{Atom("name"), Term::Atom(scope_->scope())},
                       {Atom("pid"), scope_->pid()},
                       {Atom("peer_scopes"), Term::Int(static_cast<int64_t>(scope_->peer_scopes()))}});
  }
  return Term::Map({{Atom("visible"), Atom(options_.visible ? "true" : "false")},
                    {Atom("global"), global},
                    {Atom("pg"), scope},
                    {Atom("model_processes"), Term::Map(std::move(models))}});
}

}  // namespace hb
