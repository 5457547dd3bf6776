// CallOutcome: how a routed function finished, in Erlang's own terms (the
// class and reason of an exception, or a return value), and the mappings to
// what erpc and rpc callers expect on the wire. Both mappings follow OTP's
// erpc:execute_call/4 and rpc:execute_call/3 exactly, so an error from
// hornbeamd looks like the same error from a BEAM node.
#pragma once

#include <string_view>

#include "ei_bridge/term.h"

namespace hb {

struct CallOutcome {
  enum class Kind { kReturn, kThrow, kExit, kError };
  Kind kind = Kind::kReturn;
  Term value;  // return value, thrown term, exit reason or error reason
  Term stack;  // kError only: [{M, F, ArgsOrArity, Location}]

  static CallOutcome Return(Term v) { return {Kind::kReturn, std::move(v), Term()}; }
  static CallOutcome Throw(Term t) { return {Kind::kThrow, std::move(t), Term()}; }
  static CallOutcome Exit(Term r) { return {Kind::kExit, std::move(r), Term()}; }
  static CallOutcome Error(Term reason, Term stack) {
    return {Kind::kError, std::move(reason), std::move(stack)};
  }
  // error:Reason with the stack a BEAM function raising it at its own call
  // frame would have: [{M, F, Args, []}].
  static CallOutcome ErrorAt(std::string_view reason, std::string_view m, std::string_view f,
                             const Term& args);
  static CallOutcome Undef(std::string_view m, std::string_view f, const Term& args) {
    return ErrorAt("undef", m, f, args);
  }
  static CallOutcome BadArg(std::string_view m, std::string_view f, const Term& args) {
    return ErrorAt("badarg", m, f, args);
  }
  // error:{internal_error, <<What>>}: the daemon's own code failed (a C++
  // exception, in practice out of memory) while running M:F(Args); the
  // frame may carry the arity instead of the arguments, as BEAM frames do.
  static CallOutcome InternalError(std::string_view m, std::string_view f, const Term& args,
                                   std::string_view what);

  bool is_error() const { return kind != Kind::kReturn; }
  // Short label for metrics: "undef", "badarg", "exit", "throw", ...
  std::string ReasonLabel() const;
};

// Exit reason of erpc:execute_call(Ref, M, F, A): {Ref, return, V},
// {Ref, throw, T}, {Ref, exit, R} or {Ref, error, R, Stack}.
Term ErpcExitReason(const Term& ref, const CallOutcome& o);

// Value rex replies with (rpc:execute_call/3): V, T, {badrpc, {'EXIT', R}} or
// {badrpc, {'EXIT', {R, Stack}}}.
Term RpcReply(const CallOutcome& o);

}  // namespace hb
