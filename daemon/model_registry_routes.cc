// ModelRegistry's routes: the configured modules, and the internal module
// every serving model is also routed under (its process calls that one).
#include "daemon/ml_service.h"
#include "daemon/model_registry.h"

namespace hb {

std::string ModelModule(const std::string& model) { return "$model/" + model; }

ModelLookup ModelRegistry::Lookup() {
  ModelLookup lookup;
  lookup.find = [this](const std::string& name) { return Find(name); };
  lookup.all = [this] { return All(); };
  return lookup;
}

void ModelRegistry::InstallRoutes(const std::map<std::string, std::string>& routes) {
  for (const std::string& m : routed_modules_) router_->RemoveModule(m);
  routed_modules_.clear();
  for (const auto& [module, model] : routes) {
    auto it = slots_.find(model);
    if (it == slots_.end() || it->second->status != ModelStatus::kOk) continue;
    // Routes ask for the serving model at call time, so a swap is seen by
    // the very next call.
    AddModelRoutes(router_, module, model, it->second->caps, Lookup());
    routed_modules_.push_back(module);
  }
  for (const auto& [name, slot] : slots_) {
    if (slot->status != ModelStatus::kOk) continue;
    AddModelRoutes(router_, ModelModule(name), name, slot->caps, Lookup());
    routed_modules_.push_back(ModelModule(name));
  }
  if (after_routes_) after_routes_();
}

}  // namespace hb
