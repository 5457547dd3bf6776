%% Any batch, any rate (run by run_ml_integration.sh beside hb_ml_tests):
%% batches of any size streamed through a small queue, lone calls served at
%% once, big batches beside looping single callers, cancellation half-way,
%% per-call options, ml:info and the result cache.
%%
%% Models (run_ml_integration.sh): default (hashembed, routed from ml),
%% flaky (test plugin, 2 instances), tiny (max_queue 2), cached (hashembed
%% with a 1 MiB cache), short (test plugin reading at most 3 tokens), capped
%% (max_request_texts 10).
-module(hb_serving_tests).
-include_lib("eunit/include/eunit.hrl").
-import(hb_test_lib, [daemon/0, wait_until/2, metric/2]).

-define(T(Secs, Fun), {atom_to_list(?FUNCTION_NAME), {timeout, Secs, Fun}}).

call(M, F, A) -> rpc:call(daemon(), M, F, A, 60000).

texts(N) -> [iolist_to_binary(["text number ", integer_to_list(I), " about ",
                                lists:nth(I rem 4 + 1, ["cats", "rain", "stocks", "jazz"])])
             || I <- lists:seq(1, N)].

%%---------------------------------------------------------------------------
%% Batches of any size

big_batch_beside_looping_singles_test_() ->
    ?T(240, fun() ->
        N = 200000,
        Texts = texts(N),
        Idle = singles(64, 1000),
        Self = self(),
        Big = spawn_link(fun() -> Self ! {big, call(ml, batch_encode_f32, [Texts])} end),
        During = singles_until(64, Big),
        Rows = receive {big, R} -> R after 200000 -> error(big_batch_timeout) end,
        ?assertEqual(N, length(Rows)),
        %% Rows in order, equal to single encodes.
        [?assertEqual(call(ml, encode_f32, [lists:nth(I, Texts)]), lists:nth(I, Rows))
         || I <- [1, 2, 255, 256, 257, 99999, 150001, N]],
        #{failures := F, p50_us := P50, p99_us := P99, calls := C} = During,
        io:format(user, "~n  64 singles idle: p50 ~b us p99 ~b us; beside a ~b-text batch: "
                  "~b calls, p50 ~b us, p99 ~b us, ~b failed~n",
                  [maps:get(p50_us, Idle), maps:get(p99_us, Idle), N, C, P50, P99, length(F)]),
        ?assertEqual([], F),
        ?assert(C > 0),
        %% Not starved: far below waiting for the whole batch.
        ?assert(P50 < 10 * maps:get(p50_us, Idle) + 100000)
    end).

request_larger_than_the_queue_streams_through_test() ->
    %% tiny: max_queue 2.
    Rows = call(tiny, batch_encode, [texts(50)]),
    ?assertEqual(50, length(Rows)).

request_too_large_test() ->
    ?assertEqual({badrpc, {'EXIT', {request_too_large, 10}}}, call(capped, batch_encode, [texts(11)])),
    ?assertEqual(10, length(call(capped, batch_encode, [texts(10)]))).

cancelling_a_big_batch_drops_what_has_not_run_test_() ->
    ?T(60, fun() ->
        %% One slow text in every 64: each batch of flaky takes ~50 ms.
        Texts = [case I rem 64 of 0 -> <<"SLOW">>; _ -> <<"x">> end || I <- lists:seq(1, 4000)],
        D0 = dropped(flaky),
        ?assertEqual({badrpc, timeout}, rpc:call(daemon(), flaky, batch_encode, [Texts], 300)),
        ?assert(wait_until(fun() -> queue(flaky) =:= {0, 0} end, 5000)),
        ?assert(dropped(flaky) - D0 > 1000),
        ?assertMatch([_, _], call(flaky, batch_encode, [[<<"a">>, <<"b">>]]))
    end).

%%---------------------------------------------------------------------------
%% Options

option_errors_are_badarg_test() ->
    X = <<"x">>,
    [?assertEqual({badrpc, {'EXIT', {badarg, [{ml, encode, [X, Opts], []}]}}},
                  call(ml, encode, [X, Opts]))
     || Opts <- [#{bogus => 1}, #{normalize => 3}, #{truncate => perhaps},
                 #{priority => urgent}, #{model => 42}, not_a_map]],
    ?assertEqual({badrpc, {'EXIT', {model_unavailable, nosuch}}},
                 call(ml, encode, [X, #{model => nosuch}])).

model_option_routes_to_another_model_test() ->
    ?assertEqual(call(cached, encode, [<<"same model">>]),
                 call(ml, encode, [<<"same model">>, #{model => cached}])),
    ?assertEqual(call(ml, encode, [<<"same model">>]),
                 call(ml, encode, [<<"same model">>, #{model => <<"default">>}])).

normalize_option_test() ->
    [Raw] = call(flaky, batch_encode, [[<<"abc">>]]),
    ?assert(abs(norm(Raw) - 1.0) > 0.1),
    [Unit] = call(flaky, batch_encode, [[<<"abc">>], #{normalize => true}]),
    ?assert(abs(norm(Unit) - 1.0) < 1.0e-6).

truncate_false_refuses_long_texts_test() ->
    ?assertEqual({badrpc, {'EXIT', {text_too_long, 1, 4, 3}}},
                 call(short, encode, [<<"one two three four">>, #{truncate => false}])),
    ?assertEqual({badrpc, {'EXIT', {text_too_long, 2, 5, 3}}},
                 call(short, batch_encode, [[<<"a">>, <<"a b c d e">>], #{truncate => false}])),
    ?assertMatch([_, _], call(short, batch_encode, [[<<"a">>, <<"a b c d e">>]])),
    ?assertMatch([_, _], call(short, batch_encode, [[<<"a">>, <<"a b c">>], #{truncate => false}])).

priority_option_is_accepted_test() ->
    ?assertMatch([_ | _], call(ml, encode, [<<"q">>, #{priority => bulk}])),
    ?assertMatch([<<_:1024/binary>>],
                 call(ml, batch_encode_f32, [[<<"q">>], #{priority => interactive}])).

%%---------------------------------------------------------------------------
%% ml:info and the cache

info_test() ->
    All = call(ml, info, []),
    Names = [N || #{name := N} <- All],
    ?assert(lists:member(default, Names) andalso lists:member(cached, Names)),
    #{name := cached, plugin := <<"hashembed">>, output_dim := 256, max_batch_size := 256,
      instances := 1, devices := [-1], max_request_texts := 1000000,
      default_options := #{normalize := false, truncate := true, priority := interactive},
      cache := #{enabled := true, capacity_bytes := 1048576}} = call(ml, info, [cached]),
    #{max_tokens := 3} = call(ml, info, [short]),
    #{max_request_texts := 10} = call(ml, info, [<<"capped">>]),
    ?assertEqual({badrpc, {'EXIT', {model_unavailable, nosuch}}}, call(ml, info, [nosuch])).

cache_hits_and_reload_empties_it_test_() ->
    ?T(60, fun() ->
        T = <<"a text worth caching">>,
        First = call(cached, encode, [T]),
        #{hits := H0} = cache(cached),
        ?assertEqual(First, call(cached, encode, [T])),
        #{hits := H1, entries := E1} = cache(cached),
        ?assertEqual(H0 + 1, H1),
        ?assert(E1 >= 1),
        %% A batch mixing hits and misses keeps its order.
        Mixed = call(cached, batch_encode, [[<<"new one">>, T, <<"another">>]]),
        ?assertEqual(First, lists:nth(2, Mixed)),
        ?assertEqual(call(ml, encode, [<<"another">>]), lists:nth(3, Mixed)),
        #{hits := H1b} = cache(cached),
        ?assertEqual(H1 + 1, H1b),  % the middle text
        #{reloads := R0} = call(health, check, []),
        os:cmd("kill -HUP " ++ os:getenv("HB_DAEMON_PID")),
        ?assert(wait_until(fun() -> maps:get(reloads, call(health, check, [])) > R0 end, 10000)),
        ?assertMatch(#{entries := 0, bytes := 0}, cache(cached)),
        ?assertEqual(First, call(cached, encode, [T])),
        #{hits := H2} = cache(cached),
        ?assertEqual(H1b, H2)  % a miss: the reload emptied the cache
    end).

%%---------------------------------------------------------------------------

norm(V) -> math:sqrt(lists:sum([X * X || X <- V])).

cache(Model) -> maps:get(cache, maps:get(Model, metric(daemon(), models))).

dropped(Model) -> maps:get(dropped_cancelled, maps:get(Model, metric(daemon(), models))).

queue(Model) ->
    #{models := Models} = call(health, check, []),
    [Q] = [{D, B} || #{name := M, queue_depth := D, busy_instances := B} <- Models, M =:= Model],
    Q.

%% N processes calling ml:encode in a loop for Ms milliseconds.
singles(N, Ms) ->
    Deadline = erlang:monotonic_time(millisecond) + Ms,
    collect([spawn_single(fun() -> erlang:monotonic_time(millisecond) < Deadline end)
             || _ <- lists:seq(1, N)]).

%% N processes calling ml:encode in a loop while Pid lives.
singles_until(N, Pid) ->
    collect([spawn_single(fun() -> is_process_alive(Pid) end) || _ <- lists:seq(1, N)]).

spawn_single(Go) ->
    Self = self(),
    spawn_link(fun() -> Self ! {self(), single_loop(Go, 0, [], [])} end).

single_loop(Go, I, Lat, Fail) ->
    case Go() of
        false -> {Lat, Fail};
        true ->
            T0 = erlang:monotonic_time(microsecond),
            R = rpc:call(daemon(), ml, encode, [<<"single ", (integer_to_binary(I))/binary>>], 30000),
            L = erlang:monotonic_time(microsecond) - T0,
            case R of
                [_ | _] -> single_loop(Go, I + 1, [L | Lat], Fail);
                Other -> single_loop(Go, I + 1, Lat, [Other | Fail])
            end
    end.

collect(Pids) ->
    {Lat, Fail} = lists:foldl(fun(P, {L, F}) ->
                                      receive {P, {L1, F1}} -> {L1 ++ L, F1 ++ F} end
                              end, {[], []}, Pids),
    Sorted = lists:sort(Lat),
    #{calls => length(Sorted), failures => Fail,
      p50_us => pct(Sorted, 0.5), p99_us => pct(Sorted, 0.99)}.

pct([], _) -> 0;
pct(Sorted, Q) -> lists:nth(max(1, round(Q * length(Sorted))), Sorted).
