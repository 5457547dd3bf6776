// ServingModel: one model as it serves now -- its configuration, what the
// plugin said it can do, its batcher and its result cache. The registry
// makes a new one each time it (re)builds a model and routes ask for the
// current one at call time, so a reload is seen by the very next call while
// calls already running keep the one they started with.
//
// Thread: immutable after construction except through the Batcher's and
// ResultCache's own thread-safe methods.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/options.h"
#include "daemon/batcher.h"
#include "daemon/plugin.h"
#include "daemon/result_cache.h"

namespace hb {

struct ServingModel {
  std::string name;
  ModelConfig config;
  ModelCaps caps;
  std::string plugin_name;
  std::string plugin_version;
  std::shared_ptr<Batcher> batcher;
  std::shared_ptr<ResultCache> cache;
};

// How routes find models: by name (null when it does not serve), and all of
// them (ml:info/0). Thread: the loop thread.
struct ModelLookup {
  std::function<std::shared_ptr<const ServingModel>(const std::string& name)> find;
  std::function<std::vector<std::shared_ptr<const ServingModel>>()> all;
};

}  // namespace hb
