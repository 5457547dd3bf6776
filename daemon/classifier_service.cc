#include "daemon/classifier_service.h"

#include <algorithm>
#include <cstdio>
#include <atomic>
#include <chrono>
#include <numeric>
#include <random>
#include <vector>

#include "base/log.h"
#include "daemon/text_args.h"

namespace hb {
namespace {

Term Atom(const char* a) { return Term::Atom(a); }

// What ml:train/1 was asked, once checked.
struct TrainSpec {
  std::string name;
  std::string model;
  std::vector<std::string> texts;
  std::vector<uint32_t> y;   // index into labels
  std::vector<Term> labels;  // in order of first appearance
  double holdout = 0.2;
  SoftmaxOptions options;
};

Term BadDataset(Term why) { return Term::Tuple({Atom("bad_dataset"), std::move(why)}); }
Term Pair(const char* tag, Term v) { return Term::Tuple({Atom(tag), std::move(v)}); }

// A name given as an atom or a binary, as text.
bool NameText(const Term& t, std::string* out) {
  if (!t.is_atom() && !t.is_binary()) return false;
  *out = t.text();
  return true;
}

bool Number(const Term& t, double* out) {
  if (t.is_int()) *out = static_cast<double>(t.int_value());
  else if (t.type() == Term::Type::kFloat) *out = t.float_value();
  else return false;
  return true;
}

// Reads the examples list into `spec`; a bad element names its (1-based) index.
Term ParseExamples(const Term& examples, TrainSpec* spec) {
  if (!examples.is_proper_list() || examples.items().empty()) return BadDataset(Atom("no_examples"));
  int64_t index = 0;
  for (const Term& e : examples.items()) {
    ++index;
    const bool label_ok = e.is_tuple(2) && (e[1].is_atom() || e[1].is_binary() || e[1].is_int());
    Result<std::string> text = e.is_tuple(2) ? TermToText(e[0]) : Result<std::string>(
                                                                      InvalidArgument("shape"));
    if (!label_ok || !text.ok()) {
      return BadDataset(Term::Tuple({Atom("bad_example"), Term::Int(index), e}));
    }
    auto it = std::find(spec->labels.begin(), spec->labels.end(), e[1]);
    if (it == spec->labels.end()) {
      spec->labels.push_back(e[1]);
      it = spec->labels.end() - 1;
    }
    spec->texts.push_back(std::move(*text));
    spec->y.push_back(static_cast<uint32_t>(it - spec->labels.begin()));
  }
  if (spec->labels.size() < 2) return BadDataset(Pair("one_label", spec->labels[0]));
  return Term();
}

// Checks the dataset map; returns nil when it is good, else the error reason.
Term ParseDataset(const Term& d, TrainSpec* spec) {
  if (!d.is_map()) return BadDataset(Atom("not_a_map"));
  const Term* examples = nullptr;
  bool named = false, modelled = false;
  for (size_t i = 0; i + 1 < d.size(); i += 2) {
    const Term& k = d[i];
    const Term& v = d[i + 1];
    double num = 0;
    if (k.is_atom("name")) {
      named = NameText(v, &spec->name) && ValidHeadName(spec->name);
      if (!named) return BadDataset(Pair("bad_name", v));
    } else if (k.is_atom("model")) {
      modelled = NameText(v, &spec->model);
      if (!modelled) return BadDataset(Pair("bad_option", k));
    } else if (k.is_atom("examples")) {
      examples = &v;
    } else if (k.is_atom("holdout") && Number(v, &num) && num >= 0 && num <= 0.9) {
      spec->holdout = num;
    } else if (k.is_atom("epochs") && v.is_int() && v.int_value() >= 1 && v.int_value() <= 100000) {
      spec->options.epochs = static_cast<uint32_t>(v.int_value());
    } else if (k.is_atom("learning_rate") && Number(v, &num) && num > 0 && num <= 100) {
      spec->options.learning_rate = num;
    } else if (k.is_atom("seed") && v.is_int() && v.int_value() >= 0) {
      spec->options.seed = static_cast<uint64_t>(v.int_value());
    } else {
      return BadDataset(Pair("bad_option", k));
    }
  }
  if (!named) return BadDataset(Pair("missing", Atom("name")));
  if (!modelled) return BadDataset(Pair("missing", Atom("model")));
  if (examples == nullptr) return BadDataset(Atom("no_examples"));
  return ParseExamples(*examples, spec);
}

Term Frame(const std::string& m, const std::string& f, const Term& args) {
  return Term::List({Term::Tuple({Term::Atom(m), Term::Atom(f), args, Term::Nil()})});
}

CallOutcome ExitWith(const char* reason, Term detail) {
  return CallOutcome::Exit(Term::Tuple({Term::Atom(reason), std::move(detail)}));
}

using ProgressFn = std::function<void(double, std::string_view)>;
// Embeddings of `texts`, row after row, or the status that stopped them.
using EmbedDone = std::function<void(Status, std::shared_ptr<std::vector<float>>)>;

// Embeds `texts` through `model`'s batcher. `done` runs once, on an
// instance thread (or here, when the batcher refuses the job).
void EmbedTexts(const std::shared_ptr<const ServingModel>& model,
                std::shared_ptr<const std::vector<std::string>> texts,
                std::shared_ptr<std::atomic<bool>> cancelled, Priority priority,
                ProgressFn progress, EmbedDone done) {
  const size_t dim = model->caps.output_dim;
  auto rows = std::make_shared<std::vector<float>>(texts->size() * dim);
  auto failure = std::make_shared<std::atomic<bool>>(false);
  auto count = std::make_shared<std::atomic<size_t>>(0);
  auto job = std::make_shared<BatchJob>();
  for (const std::string& t : *texts) job->texts.push_back(t);
  job->keepalive = texts;
  job->cancelled = cancelled;
  job->priority = priority;
  const size_t n = texts->size();
  const size_t every = std::max<size_t>(1, n / 20);
  job->deliver = [rows, failure, count, dim, n, every, progress](const TextResult& r) {
    if (r.status != HB_OK) {
      failure->store(true);
      return;
    }
    std::copy(r.row, r.row + dim, rows->begin() + static_cast<ptrdiff_t>(r.index * dim));
    size_t k = count->fetch_add(1) + 1;
    if (progress && k % every == 0) progress(0.5 * static_cast<double>(k) / n, "embedding");
  };
  job->finish = [rows, failure, done](BatchJob& j) {
    if (j.cancelled && j.cancelled->load()) return done(Unavailable("cancelled"), nullptr);
    if (failure->load()) return done(Internal("the embedder failed on a text"), nullptr);
    done(Status::Ok(), rows);
  };
  Status s = model->batcher->Submit(job);
  if (!s.ok()) done(s, nullptr);
}

}  // namespace

ClassifierService::ClassifierService(WorkerPool* pool, ModelLookup lookup, std::string state_dir)
    : pool_(pool), lookup_(std::move(lookup)), state_dir_(std::move(state_dir)) {}

void ClassifierService::LoadSaved() {
  if (state_dir_.empty()) return;
  std::vector<ClassifierHead> heads = LoadHeads(state_dir_);
  for (ClassifierHead& h : heads) Install(std::make_shared<const ClassifierHead>(std::move(h)));
  if (!heads.empty()) {
    HB_LOG_INFO("classifier: " + std::to_string(heads.size()) + " head(s) loaded from " +
                state_dir_ + "/heads");
  }
}

void ClassifierService::Install(std::shared_ptr<const ClassifierHead> head) {
  MutexLock lock(&mu_);
  heads_[head->name] = std::move(head);
}

std::shared_ptr<const ClassifierHead> ClassifierService::Find(const std::string& name) const {
  MutexLock lock(&mu_);
  auto it = heads_.find(name);
  return it == heads_.end() ? nullptr : it->second;
}

void ClassifierService::AddRoutes(Router* router,
                                  const std::map<std::string, std::string>& routes) {
  auto async = [](std::function<void(CallRequest, CallDone)> run) {
    Route r;
    r.execution = Route::Execution::kAsync;
    r.run_async = std::move(run);
    return r;
  };
  router->Add("ml", "train", 1, async([this](CallRequest req, CallDone done) {
    Train(std::move(req), std::move(done));
  }));
  for (bool many : {false, true}) {
    const char* f = many ? "predict_batch" : "predict";
    router->Add("ml", f, 2, async([this, f, many](CallRequest req, CallDone done) {
      std::string head;
      if (!NameText(req.args[0], &head)) return done(CallOutcome::BadArg("ml", f, req.args));
      Predict("ml", f, head, req.args[1], req.args, many, std::move(done));
    }));
    for (const auto& route : routes) {
      const std::string module = route.first, head = route.second;  // captured by copy
      router->Add(module, f, 1, async([this, module, head, f, many](CallRequest req, CallDone done) {
        Predict(module, f, head, req.args[0], req.args, many, std::move(done));
      }));
    }
  }
}

namespace {

// #{label => L, scores => #{L => P}} of one embedded text.
Term PredictionTerm(const ClassifierHead& h, const float* row) {
  std::vector<float> p(h.model.classes);
  h.model.Scores(row, p.data());
  size_t best = static_cast<size_t>(std::max_element(p.begin(), p.end()) - p.begin());
  std::vector<std::pair<Term, Term>> scores;
  for (size_t c = 0; c < p.size(); ++c) scores.emplace_back(h.labels[c], Term::Float(p[c]));
  return Term::Map({{Atom("label"), h.labels[best]}, {Atom("scores"), Term::Map(std::move(scores))}});
}

// Held-out examples first (a fixed shuffle of `seed`), the rest after.
std::vector<size_t> SplitOrder(size_t n, uint64_t seed) {
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);
  return order;
}

int64_t SystemMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Trains the head of `spec` on embedded `rows`; false when cancelled.
bool TrainHead(const TrainSpec& spec, const std::vector<float>& rows, uint32_t dim,
               const std::shared_ptr<std::atomic<bool>>& cancelled, const ProgressFn& progress,
               ClassifierHead* head) {
  const size_t n = spec.texts.size();
  std::vector<size_t> order = SplitOrder(n, spec.options.seed);
  size_t held = static_cast<size_t>(static_cast<double>(n) * spec.holdout);
  std::vector<float> x;
  std::vector<uint32_t> y;
  for (size_t k = held; k < n; ++k) {
    x.insert(x.end(), rows.begin() + static_cast<ptrdiff_t>(order[k] * dim),
             rows.begin() + static_cast<ptrdiff_t>((order[k] + 1) * dim));
    y.push_back(spec.y[order[k]]);
  }
  auto on_epoch = [&](uint32_t epoch, double loss) {
    if (progress) {
      char msg[96];
      snprintf(msg, sizeof(msg), "epoch %u of %u, loss %.4f", epoch, spec.options.epochs, loss);
      progress(0.5 + 0.5 * epoch / spec.options.epochs, msg);
    }
    return !(cancelled && cancelled->load(std::memory_order_acquire));
  };
  auto classes = static_cast<uint32_t>(spec.labels.size());
  if (!TrainSoftmax(x.data(), y.data(), y.size(), dim, classes, spec.options, on_epoch,
                    &head->model)) {
    return false;
  }
  size_t right = 0;
  for (size_t k = 0; k < held; ++k) {
    right += head->model.Predict(&rows[order[k] * dim]) == spec.y[order[k]];
  }
  head->accuracy = held ? static_cast<double>(right) / static_cast<double>(held) : -1.0;
  head->name = spec.name;
  head->embedder = spec.model;
  head->labels = spec.labels;
  head->examples = static_cast<int64_t>(n);
  head->trained_at = SystemMs();
  return true;
}

Term TrainReply(const ClassifierHead& h, size_t held, uint32_t epochs) {
  return Term::Map({
      {Atom("accuracy"), h.accuracy < 0 ? Atom("undefined") : Term::Float(h.accuracy)},
      {Atom("labels"), Term::List(h.labels)},
      {Atom("examples"), Term::Int(h.examples)},
      {Atom("holdout_examples"), Term::Int(static_cast<int64_t>(held))},
      {Atom("epochs"), Term::Int(epochs)},
  });
}

}  // namespace

void ClassifierService::Train(CallRequest req, CallDone done) {
  auto spec = std::make_shared<TrainSpec>();
  Term bad = ParseDataset(req.args[0], spec.get());
  if (!bad.is_nil()) return done(CallOutcome::Error(bad, Frame("ml", "train", req.args)));
  std::shared_ptr<const ServingModel> model = lookup_.find(spec->model);
  if (!model) {
    return done(CallOutcome::Error(BadDataset(Pair("unknown_model", Term::Binary(spec->model))),
                                   Frame("ml", "train", req.args)));
  }
  const uint32_t dim = model->caps.output_dim;
  if (dim == 0) return done(ExitWith("model_has_no_embeddings", Term::Binary(spec->model)));
  auto texts = std::make_shared<std::vector<std::string>>(std::move(spec->texts));
  spec->texts.resize(texts->size());  // sizes only from here on
  auto cancelled = req.cancelled;
  ProgressFn progress = req.progress;
  std::string model_name = spec->model;
  auto after = [this, spec, dim, cancelled, progress, done, model_name](
                   Status s, std::shared_ptr<std::vector<float>> rows) {
    if (!s.ok()) {
      if (s.message() == "cancelled") return;  // nobody waits for it
      return done(s.code() == StatusCode::kOutOfRange
                      ? ExitWith("overloaded", Term::Binary(model_name))
                      : ExitWith("model_unavailable", Term::Binary(model_name)));
    }
    // Off the instance thread: training must not hold the embedder.
    pool_->Submit([this, spec, dim, cancelled, progress, done, rows] {
      auto head = std::make_shared<ClassifierHead>();
      if (!TrainHead(*spec, *rows, dim, cancelled, progress, head.get())) {
        HB_LOG_INFO("classifier: training of '" + spec->name + "' cancelled");
        return;
      }
      if (!state_dir_.empty()) {
        Status saved = SaveHead(state_dir_, *head);
        if (!saved.ok()) HB_LOG_WARN("classifier: head not saved: " + saved.message());
      }
      size_t held = static_cast<size_t>(static_cast<double>(spec->texts.size()) * spec->holdout);
      Term reply = TrainReply(*head, held, spec->options.epochs);
      Install(head);
      done(CallOutcome::Return(std::move(reply)));
    });
  };
  EmbedTexts(model, texts, cancelled, Priority::kBulk, progress, after);
}

void ClassifierService::Predict(const std::string& module, const std::string& function,
                                const std::string& name, const Term& input,
                                const Term& frame_args, bool many, CallDone done) {
  std::shared_ptr<const ClassifierHead> head = Find(name);
  if (!head) {
    return done(CallOutcome::Error(Pair("unknown_classifier", Term::Binary(name)),
                                   Frame(module, function, frame_args)));
  }
  auto texts = std::make_shared<std::vector<std::string>>();
  std::vector<Term> items = many ? (input.is_proper_list() ? input.items() : std::vector<Term>{})
                                 : std::vector<Term>{input};
  if (many && !input.is_proper_list()) return done(CallOutcome::BadArg(module, function, frame_args));
  for (const Term& t : items) {
    Result<std::string> text = TermToText(t);
    if (!text.ok()) return done(CallOutcome::BadArg(module, function, frame_args));
    texts->push_back(std::move(*text));
  }
  if (texts->empty()) return done(CallOutcome::Return(Term::Nil()));
  std::shared_ptr<const ServingModel> model = lookup_.find(head->embedder);
  if (!model || model->caps.output_dim != head->model.dim) {
    return done(ExitWith("model_unavailable", Term::Binary(head->embedder)));
  }
  EmbedTexts(model, texts, nullptr, Priority::kInteractive, nullptr,
             [head, many, done, model](Status s, std::shared_ptr<std::vector<float>> rows) {
               if (!s.ok()) {
                 return done(ExitWith(s.code() == StatusCode::kOutOfRange ? "overloaded"
                                                                          : "model_unavailable",
                                      Term::Binary(model->name)));
               }
               std::vector<Term> out;
               for (size_t i = 0; i < rows->size() / head->model.dim; ++i) {
                 out.push_back(PredictionTerm(*head, &(*rows)[i * head->model.dim]));
               }
               done(CallOutcome::Return(many ? Term::List(std::move(out)) : out[0]));
             });
}

}  // namespace hb
