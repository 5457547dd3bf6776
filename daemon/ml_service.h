// The functions an Erlang module routed to a model serves:
//   encode/1,2, batch_encode/1,2           text(s) -> list(s) of floats
//   encode_f32/1,2, batch_encode_f32/1,2   text(s) -> little-endian float32 binary(ies)
//   info/0, info/1                         what every model (or one) is and can take
//   each "name/arity" of the model's term functions -> the plugin's term call
// The /2 forms take an options map (ml_options.h). Texts are binaries (UTF-8)
// or charlists; anything else raises badarg with the stack a BEAM function
// would give. Failures exit with {overloaded, Model} (the queue is full of
// other work), {model_unavailable, Model}, {request_too_large, Limit} (more
// texts than max_request_texts) or {text_too_long, Index, Tokens, Max}
// (truncate => false).
//
// Thread: routes run (are submitted) on the loop thread; results come back on
// instance threads through CallDone.
#pragma once

#include <string>

#include "daemon/router.h"
#include "daemon/serving_model.h"

namespace hb {

void AddModelRoutes(Router* router, const std::string& module, const std::string& model,
                    const ModelCaps& caps, ModelLookup lookup);

}  // namespace hb
