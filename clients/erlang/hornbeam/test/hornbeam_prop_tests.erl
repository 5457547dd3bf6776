%% Unit and PropEr tests of the pure parts: splitting and reassembly,
%% the power-of-two-choices pick, the breaker's rules, error classes,
%% and the call engine's deadline and fallback without any node.
-module(hornbeam_prop_tests).
-include_lib("proper/include/proper.hrl").
-include_lib("eunit/include/eunit.hrl").

-define(QC(Prop), ?assert(proper:quickcheck(Prop, [{numtests, 300}, {to_file, user}]))).

%%% Splitting ------------------------------------------------------------------

weights() -> non_empty(list({atom(), oneof([pos_integer(), float(0.01, 100.0)])})).

prop_split_keeps_order_and_items() ->
    ?FORALL({Items, Ws0, Min}, {list(int()), weights(), range(1, 20)},
            begin
                Ws = lists:ukeysort(1, Ws0),
                Parts = hornbeam_balance:split(Items, Ws, Min),
                Back = hornbeam_balance:reassemble(
                         [{Off, P} || {_, Off, P} <- shuffle(Parts)]),
                Back =:= Items
                    andalso lists:all(fun({_, _, P}) -> P =/= [] end, Parts)
                    andalso length(Parts) =< max(1, length(Items) div Min)
            end).

prop_split_sizes_proportional() ->
    ?FORALL({Total, Ws0}, {range(0, 5000), weights()},
            begin
                Ws = lists:ukeysort(1, Ws0),
                Sizes = hornbeam_balance:split_sizes(Total, Ws),
                Sum = lists:sum([W || {_, W} <- Ws]),
                lists:sum([S || {_, S} <- Sizes]) =:= Total
                    andalso lists:all(fun({K, S}) ->
                                              {K, W} = lists:keyfind(K, 1, Ws),
                                              abs(S - Total * W / Sum) < 1.0 + 1.0e-6
                                      end, Sizes)
            end).

split_min_part_test() ->
    %% 20 texts, parts of at least 8: at most 2 parts, the heaviest nodes.
    Parts = hornbeam_balance:split(lists:seq(1, 20), [{a, 1}, {b, 3}, {c, 2}], 8),
    ?assertEqual([b, c], [K || {K, _, _} <- Parts]),
    ?assertEqual(lists:seq(1, 20), lists:append([P || {_, _, P} <- Parts])).

split_offsets_test() ->
    ?assertEqual([{a, 0, [x, y]}, {b, 2, [z, w]}],
                 hornbeam_balance:split([x, y, z, w], [{a, 1}, {b, 1}], 1)).

shuffle(L) -> [X || {_, X} <- lists:sort([{rand:uniform(), X} || X <- L])].

%%% Picking --------------------------------------------------------------------

cand(N, Cap, Load, Lat) -> #{node => N, capacity => Cap, load => Load, latency_ms => Lat}.

prop_pick_never_worse_than_both() ->
    ?FORALL(Cands0, non_empty(list({range(1, 8), range(0, 50), range(1, 500)})),
            begin
                Cands = [cand(I, C, L, T) || {I, {C, L, T}} <- lists:enumerate(Cands0)],
                Picked = hornbeam_balance:pick(Cands, fun rand:uniform/1),
                Scores = lists:sort([hornbeam_balance:score(C) || C <- Cands]),
                %% Two distinct draws: never the single worst of two or more.
                lists:member(Picked, Cands)
                    andalso (length(Cands) < 2
                             orelse hornbeam_balance:score(Picked) =< lists:last(Scores))
            end).

pick_prefers_idle_fast_node_test() ->
    Busy = cand(busy, 1, 10, 20), Idle = cand(idle, 1, 0, 20),
    Slow = cand(slow, 1, 0, 400),
    ?assertEqual(Idle, hornbeam_balance:pick([Busy, Idle], fun(_) -> 1 end)),
    ?assertEqual(Idle, hornbeam_balance:pick([Slow, Idle], fun(_) -> 1 end)),
    %% Capacity: 4 instances with 3 outstanding beat 1 instance with 1.
    ?assertEqual(big, maps:get(node, hornbeam_balance:pick(
                                        [cand(small, 1, 1, 20), cand(big, 4, 3, 20)],
                                        fun(_) -> 1 end))),
    ?assertEqual(none, hornbeam_balance:pick([], fun rand:uniform/1)).

pick_spreads_test() ->
    Cands = [cand(N, 1, 0, 10) || N <- [a, b, c]],
    Picks = [maps:get(node, hornbeam_balance:pick(Cands, fun rand:uniform/1))
             || _ <- lists:seq(1, 3000)],
    [?assert(length([P || P <- Picks, P =:= N]) > 500) || N <- [a, b, c]].

%%% Breaker ----------------------------------------------------------------------

-define(CFG, #{threshold => 3, open_ms => 100}).

breaker_cycle_test() ->
    T = fun hornbeam_breaker:transition/4,
    S0 = {closed, 0},
    {S1, []} = T(S0, failure, 0, ?CFG),
    {S2, []} = T(S1, failure, 1, ?CFG),
    {{open, 102} = S3, [opened]} = T(S2, failure, 2, ?CFG),
    ?assertEqual({S3, [denied]}, T(S3, claim, 50, ?CFG)),
    {{half_open, 102} = S4, [probe]} = T(S3, claim, 102, ?CFG),
    ?assertEqual({S4, [denied]}, T(S4, claim, 103, ?CFG)),    % one probe only
    ?assertEqual({{open, 250}, [opened]}, T(S4, failure, 150, ?CFG)),
    ?assertEqual({{closed, 0}, [closed]}, T(S4, success, 150, ?CFG)),
    %% A lost probe: after the open time another caller may probe.
    ?assertEqual({{half_open, 300}, [probe]}, T(S4, claim, 300, ?CFG)),
    %% Success resets the count.
    ?assertEqual({{closed, 0}, []}, T(S2, success, 3, ?CFG)).

breaker_event() -> oneof([success, failure, claim]).

%% Model: count consecutive failures; it opens exactly at the threshold,
%% claims while open before the time are denied, at most one probe at once.
prop_breaker_model() ->
    ?FORALL(Events, list({breaker_event(), range(0, 60)}),
            begin
                {_, _, Ok} =
                    lists:foldl(
                      fun({Ev, Dt}, {S, Now0, Ok0}) ->
                              Now = Now0 + Dt,
                              {S1, Eff} = hornbeam_breaker:transition(S, Ev, Now, ?CFG),
                              {S1, Now, Ok0 andalso breaker_ok(S, Ev, Now, S1, Eff)}
                      end, {{closed, 0}, 0, true}, Events),
                Ok
            end).

breaker_ok({closed, F}, failure, Now, S1, Eff) ->
    case F + 1 >= 3 of
        true -> S1 =:= {open, Now + 100} andalso Eff =:= [opened];
        false -> S1 =:= {closed, F + 1} andalso Eff =:= []
    end;
breaker_ok({closed, _}, claim, _, S1, Eff) -> element(1, S1) =:= closed andalso Eff =:= [];
breaker_ok({open, U}, claim, Now, S1, Eff) when Now < U -> Eff =:= [denied] andalso S1 =:= {open, U};
breaker_ok({open, _}, claim, Now, S1, Eff) -> Eff =:= [probe] andalso S1 =:= {half_open, Now};
breaker_ok({half_open, T0}, claim, Now, S1, Eff) when Now - T0 < 100 ->
    Eff =:= [denied] andalso S1 =:= {half_open, T0};
breaker_ok({half_open, _}, claim, Now, S1, Eff) -> Eff =:= [probe] andalso S1 =:= {half_open, Now};
breaker_ok(S, success, _, S1, Eff) ->
    S1 =:= {closed, 0} andalso (Eff =:= [] orelse element(1, S) =/= closed);
breaker_ok({half_open, _}, failure, Now, S1, Eff) -> S1 =:= {open, Now + 100} andalso Eff =:= [opened];
breaker_ok({open, _} = S, failure, _, S1, Eff) -> S1 =:= S andalso Eff =:= [].

%% Concurrent claims through ETS: exactly one caller wins the probe.
breaker_single_probe_test_() ->
    {setup, fun start_app/0, fun stop_app/1,
     fun() ->
             application:set_env(hornbeam, breaker_threshold, 2),
             application:set_env(hornbeam, breaker_open_ms, 50),
             N = 'probe@nowhere',
             hornbeam_breaker:failure(N, test),
             hornbeam_breaker:failure(N, test),
             ?assertMatch({open, _}, hornbeam_breaker:state(N)),
             timer:sleep(60),
             Self = self(),
             [spawn(fun() -> Self ! {claim, hornbeam_breaker:claim(N, hornbeam_state:now_ms())} end)
              || _ <- lists:seq(1, 50)],
             Claims = [receive {claim, C} -> C end || _ <- lists:seq(1, 50)],
             ?assertEqual(1, length([C || C <- Claims, C =:= probe])),
             hornbeam_breaker:success(N),
             ?assertEqual({closed, 0}, hornbeam_breaker:state(N))
     end}.

%%% Errors ---------------------------------------------------------------------

classify_test() ->
    C = fun hornbeam_errors:classify/2,
    ?assertEqual({retry, nodedown, down}, C(error, {erpc, noconnection})),
    ?assertEqual({retry, overloaded, overloaded}, C(exit, {exception, {overloaded, default}})),
    ?assertEqual({retry, draining, draining}, C(exit, {exception, {hornbeamd, draining}})),
    ?assertEqual({retry, overloaded, overloaded}, C(error, {erpc, system_limit})),
    ?assertEqual({fatal, badarg}, C(error, {exception, badarg, [{ml, encode, [1], []}]})),
    ?assertEqual({fatal, undef}, C(error, {exception, undef, []})),
    ?assertEqual({fatal, {model_error, internal, <<"x">>}},
                 C(error, {exception, {model_error, internal, <<"x">>}, []})),
    ?assertNot(hornbeam_errors:never_ran(nodedown)),
    ?assert(hornbeam_errors:never_ran(overloaded)),
    ?assertNot(hornbeam_errors:fallback_applies(badarg)).

%%% The engine without nodes: deadlines, fallback, options --------------------

start_app() ->
    logger:set_primary_config(level, warning),
    application:load(hornbeam),
    application:set_env(hornbeam, nodes, ['nobody@nowhere']),
    {ok, Apps} = application:ensure_all_started(hornbeam),
    Apps.

stop_app(Apps) -> [application:stop(A) || A <- lists:reverse(Apps)], ok.

no_nodes_test_() ->
    {setup, fun start_app/0, fun stop_app/1,
     [fun() -> ?assertEqual({error, no_nodes}, hornbeam:encode(<<"x">>, #{timeout => 200})) end,
      fun() -> ?assertEqual({ok, []}, hornbeam:batch_encode([], #{})) end,
      fun() ->
              %% The fallback runs locally, with the input, as a map or a proplist.
              ?assertEqual({ok, 5}, hornbeam:encode(<<"hello">>, #{fallback => fun byte_size/1})),
              ?assertEqual({ok, 2}, hornbeam:batch_encode([a, b], [{fallback, fun erlang:length/1}])),
              ?assertEqual({ok, local}, hornbeam:call(m, f, [], #{fallback => fun() -> local end}))
      end,
      fun() ->
              ?assertMatch({error, {fallback, error, boom}},
                           hornbeam:encode(<<"x">>, #{fallback => fun() -> error(boom) end}))
      end,
      fun() ->
              %% The configured node is known (down: nothing listens there).
              ?assert(hornbeam_lib_wait(fun() ->
                          [#{node := 'nobody@nowhere', state := down}] = hornbeam:nodes(),
                          true
                                          end, 5000))
      end,
      fun() ->
              Self = self(),
              ok = hornbeam:attach(t, fun(E, M, Meta) -> Self ! {ev, E, M, Meta} end),
              {error, no_nodes} = hornbeam:encode(<<"x">>),
              receive {ev, [call, start], _, #{texts := 1}} -> ok after 1000 -> error(no_start) end,
              receive {ev, [call, stop], #{duration_ms := _}, #{result := {error, no_nodes}}} -> ok
              after 1000 -> error(no_stop) end,
              hornbeam:detach(t)
      end]}.

%% The deadline is one for the whole call: a node that takes every request
%% and never answers (a plain process) times out at the deadline, retries
%% included.
deadline_test_() ->
    {setup, fun start_app/0, fun stop_app/1,
     fun() ->
             application:set_env(hornbeam, breaker_threshold, 100),
             hornbeam_state:node_put(node(), #{state => up, models => unknown,
                                               configured => true, since => 0}),
             T0 = erlang:monotonic_time(millisecond),
             R = hornbeam:call(timer, sleep, [5000], #{timeout => 300, idempotent => true,
                                                       retries => 5}),
             Took = erlang:monotonic_time(millisecond) - T0,
             ?assertEqual({error, timeout}, R),
             ?assert(Took >= 250),
             ?assert(Took < 2500),
             %% badarg is never retried: one attempt.
             Self = self(),
             hornbeam:attach(a, fun([attempt, stop], _, M) -> Self ! {attempt, M}; (_, _, _) -> ok end),
             ?assertEqual({error, badarg}, hornbeam:call(erlang, atom_to_list, [1], #{retries => 3})),
             receive {attempt, _} -> ok after 1000 -> error(no_attempt) end,
             receive {attempt, M} -> error({second_attempt, M}) after 100 -> ok end,
             hornbeam:detach(a),
             ?assertEqual({ok, "a"}, hornbeam:call(erlang, atom_to_list, [a], #{})),
             %% The caller's mailbox is left clean.
             ?assertEqual({messages, []}, process_info(self(), messages))
     end}.

hornbeam_lib_wait(F, T) when T =< 0 -> F();
hornbeam_lib_wait(F, T) ->
    case catch F() of
        true -> true;
        _ -> timer:sleep(50), hornbeam_lib_wait(F, T - 50)
    end.

%%% PropEr through EUnit (rebar3 eunit runs them; no rebar3 plugin needed) -------

split_props_test_() ->
    {timeout, 120, [fun() -> ?QC(prop_split_keeps_order_and_items()) end,
                    fun() -> ?QC(prop_split_sizes_proportional()) end,
                    fun() -> ?QC(prop_pick_never_worse_than_both()) end,
                    fun() -> ?QC(prop_breaker_model()) end]}.
