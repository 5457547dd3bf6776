%% The hornbeam client against three real hornbeamd daemons serving the
%% test plugin with a fixed execute time (run_cluster_tests.sh starts them).
%% Loads are closed loops of client processes; assertions are on counts
%% and loose shares, never on tight timings.
-module(hb_cluster_tests).
-include_lib("eunit/include/eunit.hrl").
-export([]).

-define(WORKERS, 12).

cluster_test_() ->
    {setup, fun setup/0, fun cleanup/1,
     {inorder, [{timeout, 60, {"batch order and split", fun split_order/0}},
                {timeout, 60, {"errors are not retried", fun no_retry_of_badarg/0}},
                {timeout, 90, {"kill one under load, restart it", fun kill_and_restart/0}},
                {timeout, 90, {"drain one", fun drain/0}},
                {timeout, 60, {"overload one", fun overload/0}},
                {timeout, 60, {"slow one down 10x", fun slow/0}},
                {timeout, 30, {"health and metrics of all", fun cluster_views/0}}]}}.

%%% Fixture ---------------------------------------------------------------------

dirs() -> string:lexemes(os:getenv("HB_DAEMON_DIRS"), " ").
daemon(I) -> list_to_atom(os:getenv("HB_NODE_PREFIX") ++ integer_to_list(I) ++ "@" ++ os:getenv("HB_HOST")).
dir(I) -> lists:nth(I, dirs()).
pid(I) -> {ok, B} = file:read_file(filename:join(dir(I), "daemon.pid")), string:trim(binary_to_list(B)).

setup() ->
    logger:set_primary_config(level, warning),
    application:load(hornbeam),
    application:set_env(hornbeam, nodes, [os:getenv("HB_NODE_PREFIX") ++ "*@" ++ os:getenv("HB_HOST")]),
    application:set_env(hornbeam, poll_interval_ms, 200),
    application:set_env(hornbeam, breaker_open_ms, 1000),
    application:set_env(hornbeam, reconnect_max_ms, 500),
    {ok, _} = application:ensure_all_started(hornbeam),
    ets:new(hb_counts, [named_table, public, set, {write_concurrency, true}]),
    ok = hornbeam:attach(counts, fun count_event/3),
    all_up().

cleanup(_) -> application:stop(hornbeam).

count_event([attempt, stop], _, #{node := N, result := ok}) -> bump({ok, N});
count_event([attempt, stop], _, #{node := N, result := {error, R}}) -> bump({R, N});
count_event([call, retry], _, #{reason := R}) -> bump({retry, R});
count_event(_, _, _) -> ok.

bump(K) -> ets:update_counter(hb_counts, K, 1, {K, 0}).
count(K) -> case ets:lookup(hb_counts, K) of [{_, V}] -> V; [] -> 0 end.
reset() -> ets:delete_all_objects(hb_counts).

wait(Pred, Ms, What) ->
    Deadline = erlang:monotonic_time(millisecond) + Ms,
    wait_(Pred, Deadline, What).
wait_(Pred, Deadline, What) ->
    case catch Pred() of
        true -> ok;
        _ -> case erlang:monotonic_time(millisecond) > Deadline of
                 true -> error({timeout_waiting_for, What, hornbeam:nodes()});
                 false -> timer:sleep(100), wait_(Pred, Deadline, What)
             end
    end.

up(Node) ->
    [S] = [{St, B} || #{node := N, state := St, breaker := B} <- hornbeam:nodes(), N =:= Node],
    S =:= {up, closed}.

all_up() ->
    wait(fun() -> lists:all(fun(I) -> state(daemon(I)) =:= up end, lists:seq(1, 3)) end,
         30000, all_up).

%% A closed loop of ?WORKERS processes calling Fun until stopped; returns
%% a function that stops them and gives [Result].
load(Fun) ->
    Parent = self(),
    Pids = [spawn_link(fun() -> worker(Fun, Parent, []) end) || _ <- lists:seq(1, ?WORKERS)],
    fun() ->
            [P ! stop || P <- Pids],
            lists:append([receive {done, P, Rs} -> Rs after 60000 -> error(worker_stuck) end
                          || P <- Pids])
    end.

worker(Fun, Parent, Acc) ->
    receive stop -> Parent ! {done, self(), Acc}
    after 0 -> worker(Fun, Parent, [Fun() | Acc])
    end.

encode() -> hornbeam:encode(<<"hello">>, #{timeout => 10000}).

errors(Results) ->
    case [R || R <- Results, element(1, R) =/= ok] of
        [] -> [];
        Errs -> io:format(user, "~p errors of ~p, nodes: ~p~ncounts: ~p~n",
                          [length(Errs), length(Results), hornbeam:nodes(), ets:tab2list(hb_counts)]),
                lists:usort(Errs)
    end.

share(I) ->
    Total = lists:sum([count({ok, daemon(J)}) || J <- lists:seq(1, 3)]),
    count({ok, daemon(I)}) / max(Total, 1).

shell(Cmd) -> os:cmd(Cmd).

restart(I) ->
    shell(os:getenv("HB_RESTART_CMD") ++ " " ++ dir(I) ++ " 2>&1"),
    wait(fun() -> state(daemon(I)) =:= up end, 30000, {restarted, I}).

state(Node) ->
    hd([St || #{node := N, state := St} <- hornbeam:nodes(), N =:= Node]).

%%% Tests ---------------------------------------------------------------------

%% The test plugin's row is [length, first byte, batch size, 1.0]: texts of
%% lengths 1..300 come back in order, split over the three nodes.
split_order() ->
    reset(),
    Texts = [binary:copy(<<"a">>, L) || L <- lists:seq(1, 300)],
    {ok, Rows} = hornbeam:batch_encode(Texts, #{timeout => 20000}),
    ?assertEqual(lists:seq(1, 300), [round(hd(R)) || R <- Rows]),
    Used = [I || I <- lists:seq(1, 3), count({ok, daemon(I)}) > 0],
    ?assertEqual([1, 2, 3], Used),
    {ok, Bins} = hornbeam:batch_encode_f32(Texts, #{timeout => 20000}),
    ?assertEqual(300, length(Bins)),
    ?assertEqual(<<7.0:32/float-little>>, binary:part(lists:nth(7, Bins), 0, 4)).

%% badarg and model errors come back at once, from one attempt.
no_retry_of_badarg() ->
    reset(),
    ?assertEqual({error, badarg}, hornbeam:encode(123, #{retries => 5})),
    ?assertMatch({error, {model_error, internal, _}}, hornbeam:encode(<<"BOOM">>, #{retries => 5})),
    ?assertEqual(0, count({retry, badarg})),
    ?assertEqual(1, lists:sum([count({badarg, daemon(I)}) || I <- [1, 2, 3]])).

%% Killing a daemon under load fails no call (each had time to be retried);
%% restarted, it is used again.
kill_and_restart() ->
    reset(),
    Stop = load(fun encode/0),
    timer:sleep(1000),
    shell("kill -9 " ++ pid(1)),
    wait(fun() -> not up(daemon(1)) end, 10000, down),
    timer:sleep(1500),
    Results = Stop(),
    Retried = count({retry, nodedown}),
    restart(1),
    ?assertEqual([], errors(Results)),
    ?assert(Retried > 0),                % calls in flight on it went elsewhere
    ?assert(length(Results) > 100),
    reset(),
    Stop2 = load(fun encode/0),
    wait(fun() -> count({ok, daemon(1)}) > 20 end, 20000, used_again),
    ?assertEqual([], errors(Stop2())).

%% SIGTERM drains a daemon: its in-flight calls finish, it gets no new work.
drain() ->
    reset(),
    Stop = load(fun() -> hornbeam:encode(<<"hello">>, #{timeout => 10000}) end),
    timer:sleep(1000),
    shell("kill -TERM " ++ pid(2)),
    wait(fun() -> not up(daemon(2)) end, 10000, draining),
    timer:sleep(300),
    Before = count({ok, daemon(2)}) + count({draining, daemon(2)}),
    timer:sleep(1500),
    After = count({ok, daemon(2)}) + count({draining, daemon(2)}),
    Results = Stop(),
    restart(2),
    ?assertEqual([], errors(Results)),
    %% Refusals: at most one per worker that had picked it before the mark.
    ?assert(count({draining, daemon(2)}) =< ?WORKERS),
    ?assertEqual(Before, After).

%% A flood from elsewhere fills one daemon's queue: it answers overloaded,
%% and this client's traffic moves to the others without failing.
overload() ->
    reset(),
    D3 = daemon(3),
    Batch = [<<"x">> || _ <- lists:seq(1, 32)],
    Flood = [spawn_link(fun() -> flood(D3, Batch) end) || _ <- lists:seq(1, 16)],
    wait(fun() -> flooded(D3) end, 10000, flooded),
    Stop = load(fun encode/0),
    timer:sleep(2500),
    Results = Stop(),
    [begin unlink(P), exit(P, kill) end || P <- Flood],
    ?assertEqual([], errors(Results)),
    ?assert(share(3) < 0.25),
    wait(fun() -> up(D3) end, 10000, recovered).

flood(Node, Batch) ->
    catch erpc:call(Node, ml, batch_encode, [Batch], 5000),
    flood(Node, Batch).

flooded(Node) ->
    {ok, #{models := #{default := #{queue_depth := Q}}}} =
        {ok, hd([I || #{node := N} = I <- hornbeam:nodes(), N =:= Node])},
    Q > 0.

%% One daemon 10x slower: its share drops well below a third.
slow() ->
    ok = file:write_file(filename:join(dir(2), "execute_ms"), <<"200">>),
    try
        reset(),
        Stop = load(fun encode/0),
        timer:sleep(4000),
        Results = Stop(),
        ?assertEqual([], errors(Results)),
        io:format(user, "slow: shares ~p~n", [[share(I) || I <- [1, 2, 3]]]),
        ?assert(share(2) < 0.15),
        ?assert(share(1) > 0.3),
        ?assert(share(3) > 0.3)
    after
        file:delete(filename:join(dir(2), "execute_ms"))
    end.

cluster_views() ->
    H = hornbeam:cluster_health(),
    M = hornbeam:cluster_metrics(),
    [?assertMatch({ok, #{status := ok}}, maps:get(daemon(I), H)) || I <- [1, 2, 3]],
    [?assertMatch({ok, #{requests_total := _}}, maps:get(daemon(I), M)) || I <- [1, 2, 3]].
