%% @doc What an `erpc' exception from a hornbeamd node means for the client:
%% the reason returned to the caller and whether to try another node.
%% See the daemon README's error tables.
-module(hornbeam_errors).
-export([classify/2, never_ran/1, fallback_applies/1]).

-type reason() :: overloaded | draining | nodedown | timeout | no_nodes | badarg | undef
                | {model_error, atom(), binary()} | {internal_error, term()}
                | {exception, term()} | {exit, term()} | {throw, term()} | notsup.
%% `retry': try another node (for `nodedown', `timeout' and `internal_error'
%% only when the call is idempotent); the effect is what the node gets:
%% `down' (mark down, breaker failure), `overloaded' (no new work for a
%% moment), `draining' (no new work), `failure' (breaker failure).
-type verdict() :: {retry, reason(), down | overloaded | draining | failure}
                 | {fatal, reason()}.
-export_type([reason/0, verdict/0]).

%% @doc Classifies an exception raised by `erpc' for one request.
-spec classify(error | exit | throw, term()) -> verdict().
classify(error, {erpc, noconnection}) -> {retry, nodedown, down};
classify(error, {erpc, system_limit}) -> {retry, overloaded, overloaded};
classify(error, {erpc, timeout}) -> {retry, timeout, failure};
classify(error, {erpc, notsup}) -> {fatal, notsup};
classify(error, {erpc, badarg}) -> {fatal, badarg};
classify(exit, {exception, {overloaded, _Model}}) -> {retry, overloaded, overloaded};
classify(exit, {exception, {hornbeamd, draining}}) -> {retry, draining, draining};
classify(error, {exception, badarg, _Stack}) -> {fatal, badarg};
classify(error, {exception, undef, _Stack}) -> {fatal, undef};
classify(error, {exception, {model_error, Kind, Msg}, _Stack}) -> {fatal, {model_error, Kind, Msg}};
classify(error, {exception, {internal_error, What}, _Stack}) -> {retry, {internal_error, What}, failure};
classify(error, {exception, Reason, _Stack}) -> {fatal, {exception, Reason}};
classify(exit, {exception, Reason}) -> {fatal, {exit, Reason}};
classify(exit, {signal, Reason}) -> {fatal, {exit, Reason}};
classify(throw, Value) -> {fatal, {throw, Value}};
classify(Class, Reason) -> {fatal, {exception, {Class, Reason}}}.

%% @doc Whether the node certainly did not run the call (so even a call that
%% is not idempotent may go elsewhere).
-spec never_ran(reason()) -> boolean().
never_ran(overloaded) -> true;
never_ran(draining) -> true;
never_ran(_) -> false.

%% @doc Whether the `fallback' option applies: no node could serve (as
%% opposed to a node answering that the call itself is wrong).
-spec fallback_applies(reason()) -> boolean().
fallback_applies(no_nodes) -> true;
fallback_applies(overloaded) -> true;
fallback_applies(draining) -> true;
fallback_applies(nodedown) -> true;
fallback_applies(timeout) -> true;
fallback_applies({internal_error, _}) -> true;
fallback_applies(_) -> false.
