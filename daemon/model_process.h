// ModelProcess: one model as a process on the daemon, registered as
// PREFIX ++ Name (default hornbeam_model_NAME) and a member of the pg group
// {model, Name}, that answers gen_server calls as the ml functions would:
//
//   {encode, Text} | {encode, Text, Opts}             -> [float()]
//   {batch_encode, Texts} | {batch_encode, Texts, Opts} -> [[float()]]
//   info                                               -> the model's ml:info map
//
// A call the ml function would fail answers {error, Reason} with the reason
// it would raise or exit with ({model_unavailable, M}, badarg, ...): a
// gen_server that crashed on one bad call would take every caller down.
// Calls go through the daemon's admission like every other entry form and
// are cancelled when the caller gives up (gen:call's DEMONITOR) or its node
// goes. The process exits -- monitors fire -- when the model is unloaded or
// the daemon drains.
//
// Thread: the loop thread (a ServerProcess of RpcServer).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "daemon/server_table.h"

namespace hb {

class ModelProcess : public ServerProcess {
 public:
  // `module` is the internal module the model is routed under.
  ModelProcess(ProcessContext* ctx, std::string model, std::string module)
      : ctx_(ctx), model_(std::move(model)), module_(std::move(module)) {}
  void set_pid(Term pid) { pid_ = std::move(pid); }
  const Term& pid() const { return pid_; }
  const std::string& model() const { return model_; }

  void OnMessage(const std::string& node, const Term& msg) override;
  void OnDemonitor(const Term& ref) override;
  void OnPeerDown(const std::string& node) override;
  // Cancels every call in flight (the process exits).
  void CancelAll();
  size_t inflight() const { return calls_.size(); }

 private:
  // The ml function and arguments for a call request; false if unknown.
  bool ToCall(const Term& request, std::string* function, std::vector<Term>* args) const;

  ProcessContext* ctx_;
  std::string model_;
  std::string module_;
  Term pid_;
  struct InFlight {
    std::string node;
    Term tag_ref;  // gen:call's monitor ref, named by DEMONITOR_P
  };
  std::unordered_map<uint64_t, InFlight> calls_;
};

}  // namespace hb
