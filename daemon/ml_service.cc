#include "daemon/ml_service.h"

#include <cstring>

#include "base/catch_all.h"
#include "daemon/text_args.h"
#include "ei_bridge/term_validator.h"

namespace hb {
namespace {

Term ModelError(hb_status code, const std::string& message) {
  return Term::Tuple(
      {Term::Atom("model_error"), Term::Atom(PluginStatusName(code)), Term::Binary(message)});
}

Term Frame(const std::string& m, const std::string& f, const Term& args) {
  return Term::List({Term::Tuple({Term::Atom(m), Term::Atom(f), args, Term::Nil()})});
}

// Submits `job` to the model's current batcher; answers at once when there
// is none or it is full.
void Submit(const std::string& model, const BatcherSource& current, std::shared_ptr<BatchJob> job,
            const CallDone& done) {
  std::shared_ptr<Batcher> b = current();
  if (!b) {
    done(CallOutcome::Exit(Term::Tuple({Term::Atom("model_unavailable"), Term::Atom(model)})));
    return;
  }
  Status s = b->Submit(job);
  if (s.code() == StatusCode::kOutOfRange) {
    done(CallOutcome::Exit(Term::Tuple({Term::Atom("overloaded"), Term::Atom(model)})));
  } else if (!s.ok()) {
    done(CallOutcome::Exit(Term::Tuple({Term::Atom("model_unavailable"), Term::Atom(model)})));
  }
}

// A job's `finish`, run on an instance thread: a C++ exception in `body`
// (out of memory building the reply) fails the call with internal_error
// instead of losing its answer.
std::function<void(BatchJob&)> Guarded(std::string module, std::string function, CallDone done,
                                       std::function<void(BatchJob&)> body) {
  return [module, function, done, body](BatchJob& j) {
    std::string what;
    if (!CatchAll("finishing a model call", [&] { body(j); }, &what)) {
      CatchAll("failing a model call", [&] {
        done(CallOutcome::InternalError(module, function, Term::Int(1), what));
      });
    }
  };
}

enum class Shape { kOne, kMany };
enum class Format { kFloats, kF32 };

Term Vector(const float* v, uint32_t dim, Format fmt) {
  if (fmt == Format::kF32) {
    // Little-endian float32, as <<X:32/float-little>> reads (x86 and arm64
    // are little-endian; a static_assert would belong here on others).
    return Term::Binary(std::string_view(reinterpret_cast<const char*>(v), dim * sizeof(float)));
  }
  return Term::Opaque(EncodeFloatList(v, dim));
}

Route TextRoute(const std::string& module, const std::string& function, const std::string& model,
                BatcherSource current, Shape shape, Format fmt) {
  Route r;
  r.execution = Route::Execution::kAsync;
  r.run_async = [module, function, model, current, shape, fmt](CallRequest req, CallDone done) {
    const Term& arg = req.args[0];
    auto job = std::make_shared<BatchJob>();
    job->cancelled = req.cancelled;
    if (shape == Shape::kOne) {
      Result<std::string> t = TermToText(arg);
      if (!t.ok()) {
        done(CallOutcome::BadArg(module, function, req.args));
        return;
      }
      job->texts.push_back(std::move(t).value());
    } else {
      if (!arg.is_proper_list()) {
        done(CallOutcome::BadArg(module, function, req.args));
        return;
      }
      job->texts.reserve(arg.size());
      for (const Term& item : arg.items()) {
        Result<std::string> t = TermToText(item);
        if (!t.ok()) {
          done(CallOutcome::BadArg(module, function, req.args));
          return;
        }
        job->texts.push_back(std::move(t).value());
      }
      if (job->texts.empty()) {
        done(CallOutcome::Return(Term::Nil()));
        return;
      }
    }
    Term args = req.args;
    job->finish = Guarded(module, function, done, [module, function, args, shape, fmt, done](BatchJob& j) {
      const uint32_t dim = static_cast<uint32_t>(j.output.size() / j.texts.size());
      for (size_t i = 0; i < j.texts.size(); ++i) {
        if (j.status[i] == HB_OK) continue;
        // One bad text fails the call that carried it, like a BEAM function
        // that raises on one element of its list.
        if (j.status[i] == HB_ERR_INVALID_ARGUMENT) {
          done(CallOutcome::BadArg(module, function, args));
        } else {
          done(CallOutcome::Error(ModelError(j.status[i], j.messages[i]), Frame(module, function, args)));
        }
        return;
      }
      if (shape == Shape::kOne) {
        done(CallOutcome::Return(Vector(j.output.data(), dim, fmt)));
        return;
      }
      std::vector<Term> rows;
      rows.reserve(j.texts.size());
      for (size_t i = 0; i < j.texts.size(); ++i) {
        rows.push_back(Vector(j.output.data() + i * dim, dim, fmt));
      }
      done(CallOutcome::Return(Term::List(std::move(rows))));
    });
    Submit(model, current, std::move(job), done);
  };
  return r;
}

Route TermRoute(const std::string& module, const std::string& function, uint32_t arity,
                const std::string& model, BatcherSource current) {
  Route r;
  r.execution = Route::Execution::kAsync;
  r.run_async = [module, function, arity, model, current](CallRequest req, CallDone done) {
    Result<std::string> etf = EncodeWithVersion(req.args);
    if (!etf.ok()) {
      done(CallOutcome::BadArg(module, function, req.args));
      return;
    }
    auto job = std::make_shared<BatchJob>();
    job->kind = BatchJob::Kind::kTerm;
    job->function = function;
    job->arity = arity;
    job->args_etf = std::move(etf).value();
    job->cancelled = req.cancelled;
    Term args = req.args;
    job->finish = Guarded(module, function, done, [module, function, args, done](BatchJob& j) {
      if (j.term_code == HB_ERR_INVALID_ARGUMENT) {
        done(CallOutcome::BadArg(module, function, args));
        return;
      }
      if (j.term_code != HB_OK) {
        done(CallOutcome::Error(ModelError(j.term_code, j.term_message), Frame(module, function, args)));
        return;
      }
      // The plugin's bytes are untrusted: validate before decoding.
      size_t pos = 0;
      TermLimits limits;
      Result<Term> t = DecodeVersioned(j.result_etf, &pos, limits);
      if (!t.ok() || pos != j.result_etf.size()) {
        done(CallOutcome::Error(ModelError(HB_ERR_INTERNAL, "plugin returned a malformed term"),
                                Frame(module, function, args)));
        return;
      }
      done(CallOutcome::Return(std::move(t).value()));
    });
    Submit(model, current, std::move(job), done);
  };
  return r;
}

}  // namespace

void AddModelRoutes(Router* router, const std::string& module, const std::string& model,
                    const ModelCaps& caps, BatcherSource current) {
  if (caps.output_dim > 0) {
    router->Add(module, "encode", 1,
                TextRoute(module, "encode", model, current, Shape::kOne, Format::kFloats));
    router->Add(module, "batch_encode", 1,
                TextRoute(module, "batch_encode", model, current, Shape::kMany, Format::kFloats));
    router->Add(module, "encode_f32", 1,
                TextRoute(module, "encode_f32", model, current, Shape::kOne, Format::kF32));
    router->Add(module, "batch_encode_f32", 1,
                TextRoute(module, "batch_encode_f32", model, current, Shape::kMany, Format::kF32));
  }
  for (const std::string& fa : caps.term_functions) {
    size_t slash = fa.rfind('/');
    if (slash == std::string::npos || slash == 0) continue;
    std::string f = fa.substr(0, slash);
    int arity = atoi(fa.c_str() + slash + 1);
    if (arity < 0 || arity > 255) continue;
    router->Add(module, f, arity, TermRoute(module, f, static_cast<uint32_t>(arity), model, current));
  }
}

}  // namespace hb
