%% Models in their own processes (isolation "process") through a real
%% hornbeamd, from a real Erlang node.
%%
%% run_isolation_integration.sh starts the daemon with three isolated models
%% of the test plugin, whose "crash:..." texts kill the hornbeamd-worker they
%% run in: `healthy` (routed from healthy), `crashy` (crashes are never too
%% many: max_restarts 1000, routed from crashy) and `fragile` (max_restarts
%% 1, routed from fragile). Environment: HB_DAEMON_NODE.
-module(hb_isolation_tests).
-include_lib("eunit/include/eunit.hrl").
-import(hb_test_lib, [wait_until/2]).

node_() -> list_to_atom(os:getenv("HB_DAEMON_NODE")).

call(M, F, A) -> rpc:call(node_(), M, F, A, 30000).

model(Name) ->
    #{models := Models} = call(health, check, []),
    [M] = [M || #{name := N} = M <- Models, N =:= Name],
    M.

%% What a call on a crashing model may answer: a result, the crash of the
%% batch it was in, or (while the model restarts) unavailable.
documented({badrpc, {'EXIT', {{model_error, crashed, Msg}, _}}}) when is_binary(Msg) -> true;
documented({badrpc, {'EXIT', {{model_error, unavailable, Msg}, _}}}) when is_binary(Msg) -> true;
documented([_, _, _, _]) -> true;
documented(_) -> false.

a_crash_is_an_error_for_its_call_only_test() ->
    ?assertMatch([_, _, _, _], call(crashy, encode, [<<"before">>])),
    ?assertMatch({badrpc, {'EXIT', {{model_error, crashed, <<"signal 11 in instance ", _/binary>>}, _}}},
                 call(crashy, encode, [<<"crash:segv">>])),
    ?assertMatch({badrpc, {'EXIT', {{model_error, crashed, <<"signal 6 in instance ", _/binary>>}, _}}},
                 call(crashy, encode, [<<"crash:abort">>])),
    %% queued calls wait for the restart: this one is served
    ?assertMatch([_, _, _, _], call(crashy, encode, [<<"after">>])),
    #{status := degraded, restarts := R, crashes := C, last_crash := Last} = model(crashy),
    ?assert(R >= 1),
    ?assert(C >= 2),
    ?assertMatch(<<"signal 6 in instance ", _/binary>>, Last),
    ?assertMatch(#{status := ok, isolation := process}, model(healthy)).

%% 64 looping callers on the healthy model and on the crashing one.
looping_callers_on_a_crashing_model_test_() ->
    {timeout, 240, fun looping_callers/0}.

looping_callers() ->
    Self = self(),
    Rounds = 10,
    Pids = [spawn_link(fun() -> caller(Self, I, Rounds) end) || I <- lists:seq(1, 64)],
    Results = [receive {done, P, R} -> R after 200000 -> error(caller_hung) end || P <- Pids],
    Healthy = lists:append([H || {H, _} <- Results]),
    Crashy = lists:append([C || {_, C} <- Results]),
    ?assertEqual(64 * Rounds, length(Healthy)),
    ?assert(lists:all(fun(V) -> length(V) =:= 4 end, Healthy)),
    ?assertEqual(64 * Rounds, length(Crashy)),
    ?assertEqual([], [X || X <- Crashy, not documented(X)]),
    ?assert(lists:member(node_(), nodes(hidden)) orelse lists:member(node_(), nodes())),
    ?assert(wait_until(fun() -> length(call(crashy, encode, [<<"back">>])) =:= 4 end, 20000)).

caller(Parent, I, Rounds) ->
    R = [begin
             H = call(healthy, encode, [<<"text ", (integer_to_binary(I))/binary>>]),
             Text = case (I + K) rem 16 of 0 -> <<"crash:segv">>; _ -> <<"x">> end,
             {H, call(crashy, encode, [Text])}
         end || K <- lists:seq(1, Rounds)],
    Parent ! {done, self(), {[H || {H, _} <- R], [C || {_, C} <- R]}}.

too_many_crashes_fail_the_model_test() ->
    ?assertMatch([_, _, _, _], call(fragile, encode, [<<"ok">>])),
    ?assertMatch({badrpc, {'EXIT', {{model_error, crashed, _}, _}}}, call(fragile, encode, [<<"crash:exit">>])),
    ?assertMatch({badrpc, {'EXIT', {{model_error, crashed, _}, _}}}, call(fragile, encode, [<<"crash:segv">>])),
    ?assertMatch(#{status := failed, crashes := 2}, model(fragile)),
    T0 = erlang:monotonic_time(millisecond),
    ?assertMatch({badrpc, {'EXIT', {model_unavailable, fragile}}}, call(fragile, encode, [<<"x">>])),
    ?assert(erlang:monotonic_time(millisecond) - T0 < 1000),
    ?assertMatch([_, _, _, _], call(healthy, encode, [<<"still serving">>])).
