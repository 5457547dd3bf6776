// PgScope: the daemon's member of a kernel `pg` scope (default `hornbeam`),
// so that BEAM nodes find the daemon's model processes with
// pg:get_members(Scope, {model, Name}) (README "Visible node, global and pg").
//
// Speaks pg's peer protocol (pg.erl, OTP 23 through 29) as a scope process
// that only has local members: on every peer up it sends {discover, Us} to
// {Scope, Peer} (so hidden too, where pg's own nodeup discovery does not
// see us); to {discover, Peer} it answers with a sync cast of its groups
// and, the first time, its own discover; joins and leaves are announced to
// every peer scope. Peers monitor this process: when it exits (drain), the
// BEAM side drops every member at once. Members other scopes announce are
// not kept: nobody asks the daemon for them.
//
// Thread: the loop thread (a ServerProcess of RpcServer).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "daemon/server_table.h"

namespace hb {

class PgScope : public ServerProcess {
 public:
  PgScope(ProcessContext* ctx, std::string scope) : ctx_(ctx), scope_(std::move(scope)) {}
  void set_pid(Term pid) { pid_ = std::move(pid); }
  const Term& pid() const { return pid_; }
  const std::string& scope() const { return scope_; }

  // Adds `member` to `group` and tells every peer scope.
  void Join(const Term& group, const Term& member);
  // Removes `member` from every group it is in and tells every peer scope.
  void LeaveAll(const Term& member);
  // Sends {discover, Us} to every connected node (after start).
  void DiscoverAll();
  // Sends it again to connected nodes whose scope has not answered: a scope
  // started after its node connected to a hidden daemon finds it this way
  // (pg's own nodeup discovery sees visible nodes only).
  void Rediscover();

  void OnMessage(const std::string& node, const Term& msg) override;
  void OnPeerUp(const std::string& node) override;
  void OnPeerDown(const std::string& node) override;

  size_t peer_scopes() const { return peers_.size(); }
  std::vector<Term> Members(const Term& group) const;

 private:
  void Discover(const std::string& node);
  void Broadcast(const Term& msg);
  Term GroupsTerm() const;

  ProcessContext* ctx_;
  std::string scope_;
  Term pid_;
  std::vector<std::pair<Term, std::vector<Term>>> groups_;  // in join order
  std::map<std::string, Term> peers_;  // node -> its scope pid
};

}  // namespace hb
