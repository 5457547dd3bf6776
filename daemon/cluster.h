// Cluster: what a node of an Erlang cluster runs besides calls -- the
// passive global_name_server when visible (global_server.h), the pg scope
// (pg_scope.h) and one process per serving model (model_process.h) -- kept
// in step with the models that serve.
//
//   Start        registers global_name_server and global_group (visible
//                only; global_group's routes too) and the scope,
//                whose pid joins group hornbeam_nodes
//   SetModels    after every install: a process (and {model, Name} member)
//                for each model that newly serves; the process of a model
//                no longer serving exits with {shutdown, unloaded}
//   Stop         drain: every model process exits with shutdown, then the
//                scope (peers drop its members), then global_name_server
//
// Thread: the loop thread.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "daemon/global_group_server.h"
#include "daemon/global_server.h"
#include "daemon/model_process.h"
#include "daemon/pg_scope.h"
#include "daemon/rpc_server.h"

namespace hb {

struct ClusterOptions {
  bool visible = true;
  std::string pg_scope = "hornbeam";
  std::string model_process_prefix = "hornbeam_model_";
  std::map<std::string, std::vector<std::string>> global_groups;
};

class Cluster {
 public:
  // `router` gets the global_group routes of a visible node.
  Cluster(RpcServer* server, Router* router, ClusterOptions options);
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  void Start();
  void SetModels(const std::vector<std::string>& serving);
  void Stop();
  // Every few seconds (App's timer): pg discovery of late scopes.
  void Tick();

  // health:check's `cluster` map: visibility, global's syncs and locks, the
  // scope, its peer scopes and each model's process.
  Term Describe() const;

 private:
  void StartModel(const std::string& name);
  void ExitModel(const std::string& name, const Term& reason);

  RpcServer* server_;
  Router* router_;
  ClusterOptions options_;
  std::shared_ptr<GlobalServer> global_;
  std::shared_ptr<GlobalGroupServer> global_group_;
  std::shared_ptr<PgScope> scope_;
  std::map<std::string, std::shared_ptr<ModelProcess>> models_;
  bool stopped_ = false;
};

}  // namespace hb
