#include "daemon/ml_service.h"

#include <atomic>
#include <memory>
#include <vector>

#include "base/catch_all.h"
#include "base/log.h"
#include "base/utf8.h"
#include "daemon/ml_info.h"
#include "daemon/ml_options.h"
#include "daemon/reply_assembler.h"
#include "daemon/text_args.h"
#include "ei_bridge/term_validator.h"

namespace hb {
namespace {

using Shape = ReplyAssembler::Shape;
using Format = ReplyAssembler::Format;

Term ModelError(hb_status code, const std::string& message) {
  return Term::Tuple({Term::Atom("model_error"), Term::Atom(PluginStatusName(code)),
                      Term::Binary(message)});
}

Term Frame(const std::string& m, const std::string& f, const Term& args) {
  return Term::List({Term::Tuple({Term::Atom(m), Term::Atom(f), args, Term::Nil()})});
}

CallOutcome ExitWith(const char* reason, Term detail) {
  return CallOutcome::Exit(Term::Tuple({Term::Atom(reason), std::move(detail)}));
}

// One text call in flight: what its results need to become the reply.
struct TextCall {
  std::string module, function;
  std::shared_ptr<const Term> args;  // the call's arguments; texts are views into them
  std::shared_ptr<const ServingModel> model;
  std::unique_ptr<ReplyAssembler> assembler;
  std::vector<std::string> owned;    // texts that came as charlists, as UTF-8
  std::vector<std::string_view> texts;
  std::vector<uint32_t> index_of;    // the job's text i is the call's text index_of[i]
  std::shared_ptr<std::atomic<bool>> cancelled;
  CallDone done;

  CallOutcome Failed(const ReplyAssembler::Failure& f) const {
    if (f.status == HB_ERR_INVALID_ARGUMENT && f.too_long_tokens > 0) {
      return CallOutcome::Exit(Term::Tuple(
          {Term::Atom("text_too_long"), Term::Int(f.index + 1),
           Term::Int(f.too_long_tokens), Term::Int(model->caps.max_tokens)}));
    }
    // One bad text fails the call that carried it, like a BEAM function that
    // raises on one element of its list.
    if (f.status == HB_ERR_INVALID_ARGUMENT) return CallOutcome::BadArg(module, function, *args);
    return CallOutcome::Error(ModelError(f.status, f.message), Frame(module, function, *args));
  }

  // Hands one result (of the call's text r.index) on; answers the caller
  // when the reply completes or fails.
  void Put(const TextResult& r) {
    ReplyAssembler::Progress p = assembler->Put(r);
    if (p == ReplyAssembler::Progress::kComplete) {
      done(CallOutcome::Return(assembler->TakeReply()));
    } else if (p == ReplyAssembler::Progress::kFailed) {
      cancelled->store(true, std::memory_order_release);  // drop what has not run
      done(Failed(assembler->TakeFailure()));
    }
  }
};

// The texts of the call: views into the arguments (binaries) or converted
// charlists. False on anything that is not a text.
bool CollectTexts(const Term& arg, Shape shape, TextCall* call) {
  auto add = [call](const Term& t) {
    if (t.is_binary()) {
      if (!IsValidUtf8(t.text())) return false;
      call->texts.push_back(t.text());
      return true;
    }
    Result<std::string> text = TermToText(t);
    if (!text.ok()) return false;
    call->owned.push_back(std::move(text).value());
    call->texts.push_back({});  // filled below: `owned` may still move
    return true;
  };
  if (shape == Shape::kOne) {
    if (!add(arg)) return false;
  } else {
    if (!arg.is_proper_list()) return false;
    call->texts.reserve(arg.size());
    for (const Term& item : arg.items()) {
      if (!add(item)) return false;
    }
  }
  size_t k = 0;
  for (std::string_view& t : call->texts) {
    if (t.data() == nullptr) t = call->owned[k++];
  }
  return true;
}

// Cache hits go straight into the reply; the rest become the job's texts.
// Returns the job, or null when the cache answered everything.
std::shared_ptr<BatchJob> LookUpCached(const std::shared_ptr<TextCall>& call) {
  ResultCache& cache = *call->model->cache;
  auto job = std::make_shared<BatchJob>();
  std::vector<float> row(call->model->caps.output_dim);
  for (uint32_t i = 0; i < call->texts.size(); ++i) {
    if (cache.enabled() && cache.Lookup(call->texts[i], row.data())) {
      TextResult r;
      r.index = i;
      r.row = row.data();
      call->Put(r);
    } else {
      job->texts.push_back(call->texts[i]);
      call->index_of.push_back(i);
    }
  }
  if (job->texts.empty()) return nullptr;
  return job;
}

void SubmitTexts(const std::shared_ptr<TextCall>& call, const MlOptions& opts, Shape shape) {
  std::shared_ptr<BatchJob> job = LookUpCached(call);
  if (!job) return;  // answered from the cache
  const Batcher& batcher = *call->model->batcher;
  job->keepalive = call;  // the views point into the call's arguments
  job->cancelled = call->cancelled;
  job->check_length = !opts.truncate;
  job->priority = opts.priority.value_or(
      shape == Shape::kMany && call->texts.size() > batcher.options().max_batch_size
          ? Priority::kBulk
          : Priority::kInteractive);
  std::weak_ptr<TextCall> weak = call;
  job->deliver = [weak](const TextResult& r) {
    std::shared_ptr<TextCall> c = weak.lock();
    if (!c) return;
    TextResult mine = r;
    mine.index = c->index_of[r.index];
    if (r.status == HB_OK) c->model->cache->Insert(c->texts[mine.index], r.row);
    c->Put(mine);
  };
  Status s = call->model->batcher->Submit(job);
  if (s.code() == StatusCode::kOutOfRange) {
    call->done(ExitWith("overloaded", Term::Atom(call->model->name)));
  } else if (!s.ok()) {
    call->done(ExitWith("model_unavailable", Term::Atom(call->model->name)));
  }
}

Route TextRoute(const std::string& module, const std::string& function, const std::string& model,
                const ModelLookup& lookup, Shape shape, Format fmt) {
  Route r;
  r.execution = Route::Execution::kAsync;
  r.run_async = [=](CallRequest req, CallDone done) {
    auto call = std::make_shared<TextCall>();
    call->module = module;
    call->function = function;
    call->args = std::make_shared<const Term>(std::move(req.args));
    call->cancelled = req.cancelled;
    call->done = done;
    const Term& args = *call->args;
    MlOptions opts;
    if (args.size() == 2) {
      Result<MlOptions> parsed = ParseMlOptions(args[1]);
      if (!parsed.ok()) {
        HB_LOG_WARN(module + ":" + function + ": " + parsed.status().message());
        return done(CallOutcome::BadArg(module, function, args));
      }
      opts = std::move(parsed).value();
    }
    const std::string& name = opts.model.empty() ? model : opts.model;
    call->model = lookup.find(name);
    if (!call->model) return done(ExitWith("model_unavailable", Term::Atom(name)));
    if (!CollectTexts(args[0], shape, call.get())) {
      return done(CallOutcome::BadArg(module, function, args));
    }
    uint64_t limit = call->model->config.max_request_texts;
    if (limit > 0 && call->texts.size() > limit) {
      return done(ExitWith("request_too_large", Term::Int(static_cast<int64_t>(limit))));
    }
    if (call->texts.empty()) return done(CallOutcome::Return(Term::Nil()));
    call->assembler = std::make_unique<ReplyAssembler>(
        call->texts.size(), call->model->caps.output_dim, shape, fmt, opts.normalize);
    SubmitTexts(call, opts, shape);
  };
  return r;
}

// The plugin's term functions (predict/1, ...): arguments and result cross
// as external term format, the result validated before it is decoded.
Route TermRoute(const std::string& module, const std::string& function, uint32_t arity,
                const std::string& model, const ModelLookup& lookup) {
  Route r;
  r.execution = Route::Execution::kAsync;
  r.run_async = [=](CallRequest req, CallDone done) {
    Result<std::string> etf = EncodeWithVersion(req.args);
    if (!etf.ok()) return done(CallOutcome::BadArg(module, function, req.args));
    std::shared_ptr<const ServingModel> m = lookup.find(model);
    if (!m) return done(ExitWith("model_unavailable", Term::Atom(model)));
    auto job = std::make_shared<BatchJob>();
    job->kind = BatchJob::Kind::kTerm;
    job->function = function;
    job->arity = arity;
    job->args_etf = std::move(etf).value();
    job->cancelled = req.cancelled;
    job->progress = req.progress;
    auto args = std::make_shared<const Term>(std::move(req.args));
    job->finish = [module, function, args, done](BatchJob& j) {
      if (j.cancelled && j.cancelled->load(std::memory_order_acquire)) return;
      if (j.term_code == HB_ERR_INVALID_ARGUMENT) {
        return done(CallOutcome::BadArg(module, function, *args));
      }
      if (j.term_code != HB_OK) {
        return done(CallOutcome::Error(ModelError(j.term_code, j.term_message),
                                       Frame(module, function, *args)));
      }
      // The plugin's bytes are untrusted: validate before decoding.
      size_t pos = 0;
      Result<Term> t = DecodeVersioned(j.result_etf, &pos, TermLimits{});
      if (!t.ok() || pos != j.result_etf.size()) {
        return done(CallOutcome::Error(ModelError(HB_ERR_INTERNAL, "plugin returned a malformed term"),
                                       Frame(module, function, *args)));
      }
      done(CallOutcome::Return(std::move(t).value()));
    };
    Status s = m->batcher->Submit(job);
    if (s.code() == StatusCode::kOutOfRange) {
      done(ExitWith("overloaded", Term::Atom(model)));
    } else if (!s.ok()) {
      done(ExitWith("model_unavailable", Term::Atom(model)));
    }
  };
  return r;
}

Route InfoRoute(const std::string& module, const ModelLookup& lookup, int arity) {
  Route r;
  r.execution = Route::Execution::kInline;
  r.run = [module, lookup, arity](const CallRequest& req) {
    if (arity == 0) {
      std::vector<Term> all;
      for (const auto& m : lookup.all()) all.push_back(ModelInfoTerm(*m));
      return CallOutcome::Return(Term::List(std::move(all)));
    }
    const Term& name = req.args[0];
    if (!name.is_atom() && !name.is_binary()) return CallOutcome::BadArg(module, "info", req.args);
    std::shared_ptr<const ServingModel> m = lookup.find(name.text());
    if (!m) return ExitWith("model_unavailable", Term::Atom(name.text()));
    return CallOutcome::Return(ModelInfoTerm(*m));
  };
  return r;
}

}  // namespace

void AddModelRoutes(Router* router, const std::string& module, const std::string& model,
                    const ModelCaps& caps, ModelLookup lookup) {
  if (caps.output_dim > 0) {
    struct Fn {
      const char* name;
      Shape shape;
      Format format;
    };
    for (const Fn& f : {Fn{"encode", Shape::kOne, Format::kFloats},
                        Fn{"batch_encode", Shape::kMany, Format::kFloats},
                        Fn{"encode_f32", Shape::kOne, Format::kF32},
                        Fn{"batch_encode_f32", Shape::kMany, Format::kF32}}) {
      Route route = TextRoute(module, f.name, model, lookup, f.shape, f.format);
      router->Add(module, f.name, 1, route);
      router->Add(module, f.name, 2, route);
    }
  }
  router->Add(module, "info", 0, InfoRoute(module, lookup, 0));
  router->Add(module, "info", 1, InfoRoute(module, lookup, 1));
  for (const std::string& fa : caps.term_functions) {
    size_t slash = fa.rfind('/');
    if (slash == std::string::npos || slash == 0) continue;
    std::string f = fa.substr(0, slash);
    int arity = atoi(fa.c_str() + slash + 1);
    if (arity < 0 || arity > 255) continue;
    router->Add(module, f, arity, TermRoute(module, f, static_cast<uint32_t>(arity), model, lookup));
  }
}

}  // namespace hb
