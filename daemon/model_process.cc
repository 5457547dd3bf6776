#include "daemon/model_process.h"

#include <memory>

namespace hb {
namespace {

Term Atom(const char* a) { return Term::Atom(a); }

// gen:call's tag is [alias | Ref] on OTP 24+, a plain Ref before.
Term TagRef(const Term& tag) {
  if (tag.is_ref()) return tag;
  if (tag.is_list() && tag.tail() && tag.tail()->is_ref()) return *tag.tail();
  return Term();
}

}  // namespace

bool ModelProcess::ToCall(const Term& request, std::string* function,
                          std::vector<Term>* args) const {
  if (request.is_atom("info")) {
    *function = "info";
    *args = {Term::Atom(model_)};
    return true;
  }
  if (!request.is_tuple() || request.size() < 2 || request.size() > 3) return false;
  if (!request[0].is_atom("encode") && !request[0].is_atom("batch_encode")) return false;
  *function = request[0].text();
  args->assign(request.items().begin() + 1, request.items().end());
  return true;
}

void ModelProcess::OnMessage(const std::string& node, const Term& msg) {
  // Only gen_server calls mean anything; casts and plain messages are
  // dropped, as a gen_server without handle_info clauses for them would.
  if (!(msg.is_tuple(3) && msg[0].is_atom("$gen_call") && msg[1].is_tuple(2) &&
        msg[1][0].is_pid() && msg[1][0].pid().node == node)) {
    return;
  }
  Term caller = msg[1][0];
  Term tag = msg[1][1];
  auto reply = [this, node, caller, tag](Term value) {
    ctx_->Send(node, MakeSend(caller, Term::Tuple({tag, std::move(value)})));
  };
  CallRequest req;
  std::vector<Term> args;
  if (!ToCall(msg[2], &req.function, &args)) {
    reply(Term::Tuple({Atom("error"), Term::Tuple({Atom("unknown_call"), msg[2]})}));
    return;
  }
  req.module = module_;
  req.args = Term::List(std::move(args));
  // `done` may run inside Call (refusals, inline work): then there is
  // nothing to record. Otherwise it forgets the call by its id.
  struct State {
    uint64_t id = 0;
    bool finished = false;
  };
  auto state = std::make_shared<State>();
  uint64_t id = ctx_->Call(node, std::move(req), [this, reply, state](const CallOutcome& o) {
    state->finished = true;
    if (state->id != 0) calls_.erase(state->id);
    reply(o.is_error() ? Term::Tuple({Atom("error"), o.value}) : o.value);
  });
  if (id != 0 && !state->finished) {
    state->id = id;
    calls_[id] = InFlight{node, TagRef(tag)};
  }
}

void ModelProcess::OnDemonitor(const Term& ref) {
  for (auto it = calls_.begin(); it != calls_.end(); ++it) {
    if (it->second.tag_ref == ref) {
      ctx_->CancelCall(it->first);
      calls_.erase(it);
      return;
    }
  }
}

void ModelProcess::OnPeerDown(const std::string& node) {
  for (auto it = calls_.begin(); it != calls_.end();) {
    if (it->second.node == node) {
      ctx_->CancelCall(it->first);
      it = calls_.erase(it);
    } else {
      ++it;
    }
  }
}

void ModelProcess::CancelAll() {
  for (auto& [id, c] : calls_) ctx_->CancelCall(id);
  calls_.clear();
}

}  // namespace hb
