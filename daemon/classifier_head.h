// ClassifierHead: a softmax classifier trained by ml:train/1 on the
// embeddings of one model, and where heads are kept across restarts:
// STATE_DIR/heads/NAME.head, one versioned external-format term, written
// atomically (see WriteFileAtomically in job_store.h).
//
// Thread: a head is immutable once built; share it as shared_ptr<const>.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "daemon/softmax.h"
#include "ei_bridge/term.h"

namespace hb {

struct ClassifierHead {
  std::string name;
  std::string embedder;     // the model whose embeddings it reads
  std::vector<Term> labels; // as the caller gave them (atoms or binaries)
  SoftmaxModel model;
  double accuracy = -1;     // held-out accuracy; < 0 when nothing was held out
  int64_t examples = 0;
  int64_t trained_at = 0;   // Erlang system time, ms
};

// Head names become file names: 1..64 of [A-Za-z0-9_-].
bool ValidHeadName(const std::string& name);

Term HeadToTerm(const ClassifierHead& h);
Result<ClassifierHead> HeadFromTerm(const Term& t);

// STATE_DIR/heads/NAME.head; creates the directory when missing.
Status SaveHead(const std::string& state_dir, const ClassifierHead& h);
// Every readable head under STATE_DIR/heads (unreadable ones are logged).
std::vector<ClassifierHead> LoadHeads(const std::string& state_dir);

}  // namespace hb
