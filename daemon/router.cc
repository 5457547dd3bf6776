#include "daemon/router.h"

namespace hb {

void Router::Add(const std::string& module, const std::string& function, int arity, Route route) {
  routes_[{module, function, arity}] = std::move(route);
}

void Router::RemoveModule(const std::string& module) {
  for (auto it = routes_.begin(); it != routes_.end();) {
    it = std::get<0>(it->first) == module ? routes_.erase(it) : std::next(it);
  }
}

const Route* Router::Find(const std::string& module, const std::string& function, int arity) const {
  auto it = routes_.find({module, function, arity});
  return it == routes_.end() ? nullptr : &it->second;
}

}  // namespace hb
