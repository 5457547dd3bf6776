%% Throughput with 1, 2 and 3 daemons and p99 with one of three 10x slow:
%% hornbeam:encode/2 against round-robin rpc:call as the seed writes it.
%% Run by: cluster_test/run_cluster_tests.sh --bench DAEMON TEST_PLUGIN_DIR BUILD_DIR
%% (daemons: test plugin, execute_ms 10, max_batch_size 1, one instance).
-module(client_bench).
-export([main/0]).

-define(WORKERS, 32).
-define(SECONDS, 5).

main() ->
    logger:set_primary_config(level, warning),
    application:load(hornbeam),
    Prefix = os:getenv("HB_NODE_PREFIX"), Host = os:getenv("HB_HOST"),
    application:set_env(hornbeam, nodes, [Prefix ++ "*@" ++ Host]),
    {ok, _} = application:ensure_all_started(hornbeam),
    Nodes = [list_to_atom(Prefix ++ integer_to_list(I) ++ "@" ++ Host) || I <- [1, 2, 3]],
    wait_up(Nodes, 100),
    io:format("| client | daemons | calls/s | x vs 1 | p50 ms | p99 ms | errors |~n"
              "| --- | --- | --- | --- | --- | --- | --- |~n"),
    lists:foreach(
      fun(Kind) ->
              Base = lists:foldl(
                       fun(N, B) ->
                               Set = lists:sublist(Nodes, N),
                               {Rate, P50, P99, Errs} = run(Kind, Set),
                               B1 = case B of undefined -> Rate; _ -> B end,
                               row(Kind, integer_to_list(N), Rate, Rate / B1, P50, P99, Errs),
                               B1
                       end, undefined, [1, 2, 3]),
              _ = Base
      end, [hornbeam, round_robin]),
    [D3 | _] = lists:reverse(string:lexemes(os:getenv("HB_DAEMON_DIRS"), " ")),
    ok = file:write_file(filename:join(D3, "execute_ms"), <<"100">>),
    timer:sleep(1000),
    [begin
         {Rate, P50, P99, Errs} = run(Kind, Nodes),
         row(Kind, "3, one 10x slow", Rate, none, P50, P99, Errs)
     end || Kind <- [hornbeam, round_robin]],
    file:delete(filename:join(D3, "execute_ms")).

row(Kind, N, Rate, X, P50, P99, Errs) ->
    XS = case X of none -> "-"; _ -> io_lib:format("~.2f", [X]) end,
    io:format("| ~s | ~s | ~w | ~s | ~.1f | ~.1f | ~w |~n",
              [Kind, N, round(Rate), XS, P50, P99, Errs]).

wait_up(_, 0) -> error(not_up);
wait_up(Nodes, N) ->
    Up = [Nd || #{node := Nd, state := up} <- hornbeam:nodes()],
    case Nodes -- Up of
        [] -> ok;
        _ -> timer:sleep(200), wait_up(Nodes, N - 1)
    end.

run(Kind, Nodes) ->
    Counter = atomics:new(1, []),
    Call = case Kind of
               hornbeam -> fun() -> hornbeam:encode(<<"bench">>, #{nodes => Nodes, timeout => 5000}) end;
               round_robin ->
                   %% The seed: pick the next node, rpc:call, no failover.
                   fun() ->
                           I = atomics:add_get(Counter, 1, 1),
                           Node = lists:nth(I rem length(Nodes) + 1, Nodes),
                           case rpc:call(Node, ml, encode, [<<"bench">>], 5000) of
                               {badrpc, R} -> {error, R};
                               V -> {ok, V}
                           end
                   end
           end,
    Parent = self(),
    End = erlang:monotonic_time(millisecond) + ?SECONDS * 1000,
    Pids = [spawn_link(fun() -> Parent ! {lat, self(), loop(Call, End, [], 0)} end)
            || _ <- lists:seq(1, ?WORKERS)],
    Res = [receive {lat, P, R} -> R end || P <- Pids],
    Lats = lists:sort(lists:append([L || {L, _} <- Res])),
    Errs = lists:sum([E || {_, E} <- Res]),
    N = length(Lats),
    {N / ?SECONDS, pct(Lats, N, 0.50), pct(Lats, N, 0.99), Errs}.

loop(Call, End, Acc, Errs) ->
    T0 = erlang:monotonic_time(microsecond),
    case T0 div 1000 >= End of
        true -> {Acc, Errs};
        false ->
            case Call() of
                {ok, _} -> loop(Call, End, [(erlang:monotonic_time(microsecond) - T0) / 1000 | Acc], Errs);
                _ -> loop(Call, End, Acc, Errs + 1)
            end
    end.

pct(_, 0, _) -> 0.0;
pct(L, N, P) -> lists:nth(max(1, min(N, round(N * P))), L).
