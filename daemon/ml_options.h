// Per-call options of the model functions: ml:encode(Text, Opts),
// ml:batch_encode(Texts, Opts) and the _f32 forms.
//
//   model     => atom() | binary()      serve from this model instead of the module's
//   normalize => boolean()              L2-normalise each row (default false: rows as
//                                       the model produced them)
//   truncate  => boolean()              false: refuse a text longer than the model
//                                       reads with {text_too_long, Index, Tokens, Max}
//                                       (default true: the model cuts it)
//   priority  => interactive | bulk     bulk work yields to interactive work (default:
//                                       interactive, bulk for a batch larger than one
//                                       execute)
//
// Thread: pure functions.
#pragma once

#include <optional>
#include <string>

#include "base/status.h"
#include "daemon/batch_job.h"
#include "ei_bridge/term.h"

namespace hb {

struct MlOptions {
  std::string model;  // empty: the module's model
  bool normalize = false;
  bool truncate = true;
  std::optional<Priority> priority;
};

// Parses an options map; an unknown key or a bad value is an error naming
// the key (the caller answers badarg and logs the message).
Result<MlOptions> ParseMlOptions(const Term& map);

}  // namespace hb
