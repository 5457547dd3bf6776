#include "daemon/call_outcome.h"

namespace hb {

CallOutcome CallOutcome::ErrorAt(std::string_view reason, std::string_view m, std::string_view f,
                                 const Term& args) {
  Term frame = Term::Tuple({Term::Atom(m), Term::Atom(f), args, Term::Nil()});
  return Error(Term::Atom(reason), Term::List({frame}));
}

CallOutcome CallOutcome::InternalError(std::string_view m, std::string_view f, const Term& args,
                                       std::string_view what) {
  Term frame = Term::Tuple({Term::Atom(m), Term::Atom(f), args, Term::Nil()});
  return Error(Term::Tuple({Term::Atom("internal_error"), Term::Binary(what)}), Term::List({frame}));
}

std::string CallOutcome::ReasonLabel() const {
  switch (kind) {
    case Kind::kReturn: return "ok";
    case Kind::kThrow: return "throw";
    case Kind::kExit: return "exit";
    case Kind::kError:
      if (value.is_atom()) return value.text();
      if (value.is_tuple() && value.size() > 0 && value[0].is_atom()) return value[0].text();
      return "error";
  }
  return "error";
}

Term ErpcExitReason(const Term& ref, const CallOutcome& o) {
  switch (o.kind) {
    case CallOutcome::Kind::kReturn:
      return Term::Tuple({ref, Term::Atom("return"), o.value});
    case CallOutcome::Kind::kThrow:
      return Term::Tuple({ref, Term::Atom("throw"), o.value});
    case CallOutcome::Kind::kExit:
      return Term::Tuple({ref, Term::Atom("exit"), o.value});
    case CallOutcome::Kind::kError:
      return Term::Tuple({ref, Term::Atom("error"), o.value, o.stack});
  }
  return Term();
}

Term RpcReply(const CallOutcome& o) {
  auto badrpc_exit = [](Term r) {
    return Term::Tuple({Term::Atom("badrpc"), Term::Tuple({Term::Atom("EXIT"), std::move(r)})});
  };
  switch (o.kind) {
    case CallOutcome::Kind::kReturn:
    case CallOutcome::Kind::kThrow:
      return o.value;
    case CallOutcome::Kind::kExit:
      return badrpc_exit(o.value);
    case CallOutcome::Kind::kError:
      return badrpc_exit(Term::Tuple({o.value, o.stack}));
  }
  return Term();
}

}  // namespace hb
