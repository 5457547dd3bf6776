// ml:info/0,1: what a client needs to know of a model to chunk and route its
// work -- name, plugin and version, dimension, how much text it reads, batch
// and request limits, devices and instances, default options and cache.
//
// Thread: the loop thread (reads a ServingModel and its cache's counters).
#pragma once

#include "daemon/serving_model.h"
#include "ei_bridge/term.h"

namespace hb {

// #{name, plugin, plugin_version, description, output_dim, max_tokens,
//   max_batch_size, max_request_texts, max_queue, max_queue_delay_us,
//   instances, devices, term_functions, default_options, cache}
Term ModelInfoTerm(const ServingModel& m);

}  // namespace hb
