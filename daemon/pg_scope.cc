#include "daemon/pg_scope.h"

#include <algorithm>

namespace hb {
namespace {

Term Atom(const char* a) { return Term::Atom(a); }

}  // namespace

std::vector<Term> PgScope::Members(const Term& group) const {
  for (const auto& [g, pids] : groups_) {
    if (g == group) return pids;
  }
  return {};
}

Term PgScope::GroupsTerm() const {
  std::vector<Term> groups;
  for (const auto& [g, pids] : groups_) groups.push_back(Term::Tuple({g, Term::List(pids)}));
  return Term::List(std::move(groups));
}

void PgScope::Broadcast(const Term& msg) {
  for (const auto& [node, peer] : peers_) ctx_->Send(node, MakeSend(peer, msg));
}

void PgScope::Join(const Term& group, const Term& member) {
  auto it = std::find_if(groups_.begin(), groups_.end(),
                         [&](const auto& g) { return g.first == group; });
  if (it == groups_.end()) {
    groups_.push_back({group, {}});
    it = groups_.end() - 1;
  }
  it->second.push_back(member);
  // {join, Peer, Group, PidOrPids}: what every pg release takes.
  Broadcast(Term::Tuple({Atom("join"), pid_, group, Term::List({member})}));
}

void PgScope::LeaveAll(const Term& member) {
  std::vector<Term> left;
  for (auto& [g, pids] : groups_) {
    auto before = pids.size();
    pids.erase(std::remove(pids.begin(), pids.end(), member), pids.end());
    if (pids.size() != before) left.push_back(g);
  }
  groups_.erase(std::remove_if(groups_.begin(), groups_.end(),
                               [](const auto& g) { return g.second.empty(); }),
                groups_.end());
  if (left.empty()) return;
  // {leave, Peer, PidOrPids, Groups}.
  Broadcast(Term::Tuple({Atom("leave"), pid_, Term::List({member}), Term::List(std::move(left))}));
}

void PgScope::Discover(const std::string& node) {
  ctx_->Send(node, MakeRegSend(pid_, Term::Atom(scope_),
                               Term::Tuple({Atom("discover"), pid_})));
}

void PgScope::DiscoverAll() {
  for (const std::string& node : ctx_->Peers()) Discover(node);
}

void PgScope::Rediscover() {
  for (const std::string& node : ctx_->Peers()) {
    if (!peers_.count(node)) Discover(node);
  }
}

void PgScope::OnPeerUp(const std::string& node) { Discover(node); }

void PgScope::OnPeerDown(const std::string& node) { peers_.erase(node); }

void PgScope::OnMessage(const std::string& node, const Term& msg) {
  // {discover, Peer} (every release) or {discover, Peer, Features} (OTP 28+
  // may send it; we answer in the OTP 23 form, which all of them accept).
  if (msg.is_tuple() && (msg.size() == 2 || msg.size() == 3) && msg[0].is_atom("discover") &&
      msg[1].is_pid() && msg[1].pid().node == node) {
    const Term& peer = msg[1];
    Term sync = Term::Tuple({Atom("sync"), pid_, GroupsTerm()});
    ctx_->Send(node, MakeSend(peer, Term::Tuple({Atom("$gen_cast"), sync})));
    auto it = peers_.find(node);
    if (it == peers_.end() || it->second != peer) {
      peers_[node] = peer;
      ctx_->Send(node, MakeSend(peer, Term::Tuple({Atom("discover"), pid_})));
    }
    return;
  }
  // A peer scope's sync of its own groups: it knows us now. We keep no
  // remote members, only where the peer's scope is.
  if (msg.is_tuple(2) && msg[0].is_atom("$gen_cast") && msg[1].is_tuple(3) &&
      msg[1][0].is_atom("sync") && msg[1][1].is_pid() && msg[1][1].pid().node == node) {
    peers_[node] = msg[1][1];
    return;
  }
  // join/leave of remote members, calls meant for a local scope: dropped
  // (a BEAM scope would keep or crash on them; we keep nothing).
}

}  // namespace hb
