// Router: {Module, Function, Arity} -> Route. Only what is routed ever runs;
// everything else is `undef`, as on a BEAM node without that module.
//
// Thread: built before the loop starts and changed only on the loop thread;
// read on the loop thread.
#pragma once

#include <map>
#include <string>
#include <tuple>

#include "daemon/service.h"

namespace hb {

class Router {
 public:
  void Add(const std::string& module, const std::string& function, int arity, Route route);
  void RemoveModule(const std::string& module);
  // nullptr when not routed.
  const Route* Find(const std::string& module, const std::string& function, int arity) const;
  size_t size() const { return routes_.size(); }

 private:
  std::map<std::tuple<std::string, std::string, int>, Route> routes_;
};

}  // namespace hb
