// GlobalGroupServer: what kernel's global_group asks of a visible node that
// BEAM nodes list in their `global_groups` (README "Visible node, global and
// pg"), answered from the daemon's own `global_groups` setting exactly as a
// BEAM node configured the same way answers:
//   - erpc global_group:get_own_nodes/0 (asked on every nodeup): the sorted
//     nodes of our group, [] without one -- a node whose configuration
//     differs disconnects us, as it would a BEAM node;
//   - get_own_nodes_with_errors/0, ng_add_check/2,3 (agreed | not_agreed);
//   - {conf_check, ...} casts: config_ok when the group agrees, else
//     config_error; the own_nodes call.
// A node without global_groups never asks.
//
// Thread: the loop thread (a ServerProcess of RpcServer; routes inline).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "daemon/router.h"
#include "daemon/server_table.h"

namespace hb {

class GlobalGroupServer : public ServerProcess {
 public:
  // `groups`: group name -> nodes; ours is the one that names `node_name`.
  GlobalGroupServer(ProcessContext* ctx,
                    const std::map<std::string, std::vector<std::string>>& groups);
  void OnMessage(const std::string& node, const Term& msg) override;

  uint64_t conf_checks() const { return conf_checks_; }
  // The sorted nodes of our group; [] when none is configured.
  Term OwnNodes() const;
  // ng_add_check(Node, PubType, OthersNG): agreed when they match ours.
  Term AddCheck(const Term& pub_type, const Term& nodes) const;

 private:
  bool Agrees(const Term& name, const Term& pub_type, const Term& nodes) const;

  ProcessContext* ctx_;
  std::string group_;               // empty: no group
  std::vector<std::string> nodes_;  // sorted
  uint64_t conf_checks_ = 0;
};

// The global_group functions BEAM nodes call by erpc. `server` must outlive
// the router's use of them.
void AddGlobalGroupRoutes(Router* router, const GlobalGroupServer* server);

}  // namespace hb
