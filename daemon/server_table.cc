#include "daemon/server_table.h"

#include <algorithm>

namespace hb {
namespace {

std::string NodeOfTerm(const Term& t) {
  if (t.is_pid()) return t.pid().node;
  if (t.is_ref()) return t.ref().node;
  return std::string();
}

}  // namespace

bool ServerTable::Add(Term pid, std::string name, std::shared_ptr<ServerProcess> server) {
  if (!name.empty() && FindByName(name) != nullptr) return false;
  auto e = std::make_unique<Entry>();
  e->pid = std::move(pid);
  e->name = std::move(name);
  e->server = std::move(server);
  entries_.push_back(std::move(e));
  return true;
}

ServerTable::Entry* ServerTable::FindByPid(const Term& pid) {
  if (!pid.is_pid()) return nullptr;
  for (auto& e : entries_) {
    if (e->pid == pid) return e.get();
  }
  return nullptr;
}

ServerTable::Entry* ServerTable::FindByName(const std::string& name) {
  if (name.empty()) return nullptr;
  for (auto& e : entries_) {
    if (e->name == name) return e.get();
  }
  return nullptr;
}

std::unique_ptr<ServerTable::Entry> ServerTable::Remove(const Term& pid) {
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if ((*it)->pid == pid) {
      std::unique_ptr<Entry> e = std::move(*it);
      entries_.erase(it);
      // Its own monitors on others die with it.
      outgoing_.erase(std::remove_if(outgoing_.begin(), outgoing_.end(),
                                     [&](const Outgoing& o) { return o.server == pid; }),
                      outgoing_.end());
      return e;
    }
  }
  return nullptr;
}

void ServerTable::DropWatchersOn(const std::string& node) {
  for (auto& e : entries_) {
    auto& w = e->watchers;
    w.erase(std::remove_if(w.begin(), w.end(),
                           [&](const Entry::Watcher& x) { return NodeOfTerm(x.watcher) == node; }),
            w.end());
  }
}

bool ServerTable::RemoveWatcher(Entry* e, const Term& watcher, const Term& ref) {
  auto& w = e->watchers;
  auto it = std::find_if(w.begin(), w.end(), [&](const Entry::Watcher& x) {
    return x.ref == ref && x.watcher == watcher;
  });
  if (it == w.end()) return false;
  w.erase(it);
  return true;
}

void ServerTable::AddOutgoing(const Term& ref, const Term& server_pid, const Term& target) {
  outgoing_.push_back({ref, server_pid, NodeOfTerm(target)});
}

ServerTable::Entry* ServerTable::TakeOutgoing(const Term& ref) {
  for (auto it = outgoing_.begin(); it != outgoing_.end(); ++it) {
    if (it->ref == ref) {
      Term server = it->server;
      outgoing_.erase(it);
      return FindByPid(server);
    }
  }
  return nullptr;
}

void ServerTable::ForgetOutgoing(const Term& ref) {
  outgoing_.erase(std::remove_if(outgoing_.begin(), outgoing_.end(),
                                 [&](const Outgoing& o) { return o.ref == ref; }),
                  outgoing_.end());
}

std::vector<std::pair<Term, Term>> ServerTable::TakeOutgoingOn(const std::string& node) {
  std::vector<std::pair<Term, Term>> out;
  for (auto it = outgoing_.begin(); it != outgoing_.end();) {
    if (it->target_node == node) {
      out.emplace_back(it->ref, it->server);
      it = outgoing_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

std::vector<ServerTable::Entry*> ServerTable::All() {
  std::vector<Entry*> out;
  for (auto& e : entries_) out.push_back(e.get());
  return out;
}

}  // namespace hb
