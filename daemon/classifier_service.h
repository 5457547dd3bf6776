// ClassifierService: classifier heads trained from Erlang on any embedding
// model, and the routes that train and use them:
//
//   ml:train(#{name => Name, model => Embedder, examples => [{Text, Label}],
//              holdout => 0.2, epochs => 30, learning_rate => 0.5})
//       -> #{accuracy => HeldOut, labels => [...], examples => N, ...}
//   ml:predict(Name, Text)          -> #{label => L, scores => #{L => P}}
//   ml:predict_batch(Name, Texts)   -> [#{label, scores}]
//   M:predict(Text), M:predict_batch(Texts) for each classifier_routes entry M -> head
//
// Training embeds every text through the embedder's batcher (bulk
// priority), then trains a softmax head on a worker thread (plain C++,
// daemon/softmax.h), reporting progress per epoch through the call's
// progress callback (as a job) and stopping when the call is cancelled (its
// caller gave up, or jobs:cancel/1). The head replaces any head of that
// name, is saved under STATE_DIR/heads when there is a state directory, and
// is loaded again at start. Bad datasets raise error:{bad_dataset, Why}.
//
// Thread: routes run on the loop thread; embeddings complete on instance
// threads and training on a worker; the head table is guarded by a mutex.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "base/mutex.h"
#include "daemon/classifier_head.h"
#include "daemon/router.h"
#include "daemon/serving_model.h"
#include "daemon/worker_pool.h"

namespace hb {

class ClassifierService {
 public:
  // `state_dir` empty: heads live only as long as the process.
  ClassifierService(WorkerPool* pool, ModelLookup lookup, std::string state_dir);

  // Loads the saved heads (logged).
  void LoadSaved();
  // Adds ml:train/1, ml:predict/2, ml:predict_batch/2 and, for each entry
  // of `routes` (Erlang module -> head name), predict/1 and predict_batch/1.
  // Call again after anything removed module ml's routes (a model reload).
  void AddRoutes(Router* router, const std::map<std::string, std::string>& routes);

  std::shared_ptr<const ClassifierHead> Find(const std::string& name) const;

 private:
  void Train(CallRequest req, CallDone done);
  // Embeds `input` (a text, or a list of texts when `many`) and applies
  // head `head`; errors name module:function(frame_args).
  void Predict(const std::string& module, const std::string& function, const std::string& head,
               const Term& input, const Term& frame_args, bool many, CallDone done);
  void Install(std::shared_ptr<const ClassifierHead> head);

  WorkerPool* pool_;
  ModelLookup lookup_;
  std::string state_dir_;
  mutable Mutex mu_;
  std::map<std::string, std::shared_ptr<const ClassifierHead>> heads_ GUARDED_BY(mu_);
};

}  // namespace hb
