// The functions an Erlang module routed to a model serves:
//   encode/1, batch_encode/1          text(s) -> list(s) of floats
//   encode_f32/1, batch_encode_f32/1  text(s) -> little-endian float32 binary(ies)
//   each "name/arity" of the model's term functions -> the plugin's term call
// Texts are binaries (UTF-8) or charlists; anything else raises badarg with
// the stack a BEAM function would give. A full queue exits with
// {overloaded, Model}; a model that failed to load exits with
// {model_unavailable, Model}.
//
// Thread: routes run (are submitted) on the loop thread; completion happens
// on instance threads through CallDone.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "daemon/batcher.h"
#include "daemon/router.h"

namespace hb {

using BatcherSource = std::function<std::shared_ptr<Batcher>()>;

void AddModelRoutes(Router* router, const std::string& module, const std::string& model,
                    const ModelCaps& caps, BatcherSource current);

}  // namespace hb
