%% rpc:call(N, health, ping, []) throughput and latency, hornbeamd vs a plain
%% BEAM node, measured from one client node.  Started by bench/rpc_bench.sh:
%%   rpc_bench:main([DaemonNode, RefNode, SecondsPerCell])
-module(rpc_bench).
-export([main/1]).

-define(CALLERS, [1, 64]).
-define(WARMUP_MS, 1000).

%% Arguments are strings (erl -run).
main([Daemon, Ref, Secs]) ->
    io:setopts([{encoding, unicode}]),   % the table says µs
    CellMs = list_to_integer(Secs) * 1000,
    Targets = [{"hornbeamd", list_to_atom(Daemon)}, {"BEAM", list_to_atom(Ref)}],
    [pong = rpc:call(N, health, ping, [], 5000) || {_, N} <- Targets],
    Rows = [{Name, C, cell(N, C, CellMs)} || C <- ?CALLERS, {Name, N} <- Targets],
    io:format("~nrpc:call(N, health, ping, []), ~b s per cell, one client node~n~n"
              "| target | callers | calls/s | median µs | p99 µs |~n"
              "|---|---:|---:|---:|---:|~n", [CellMs div 1000]),
    [io:format("| ~s | ~b | ~b | ~b | ~b |~n", [Name, C, round(Rate), Med, P99])
     || {Name, C, {Rate, Med, P99, _}} <- Rows],
    %% Ratio rows: calls/s > 1 and latency < 1 mean the daemon is faster.
    [begin
         {_, _, {DR, DM, DP, _}} = lists:keyfind(C, 2, [R || {"hornbeamd", _, _} = R <- Rows]),
         {_, _, {BR, BM, BP, _}} = lists:keyfind(C, 2, [R || {"BEAM", _, _} = R <- Rows]),
         io:format("| hornbeamd/BEAM | ~b | ~.2fx | ~.2fx | ~.2fx |~n",
                   [C, DR / BR, DM / max(BM, 1), DP / max(BP, 1)])
     end || C <- ?CALLERS],
    io:format("~nratio rows: calls/s above 1x and latency below 1x favour hornbeamd~n", []),
    Errors = lists:sum([E || {_, _, {_, _, _, E}} <- Rows]),
    Errors =:= 0 orelse io:format("~nWARNING: ~b calls did not return pong~n", [Errors]),
    halt(case Errors of 0 -> 0; _ -> 1 end).

%% One table cell: warm up, then Callers processes call for CellMs each.
%% Returns {CallsPerSecond, MedianUs, P99Us, Errors}.
cell(Node, Callers, CellMs) ->
    _ = run(Node, Callers, ?WARMUP_MS),
    Results = run(Node, Callers, CellMs),
    Lat = lists:sort(lists:append([L || {L, _} <- Results])),
    Errors = lists:sum([E || {_, E} <- Results]),
    {length(Lat) * 1000 / CellMs, pct(Lat, 0.50), pct(Lat, 0.99), Errors}.

run(Node, Callers, Ms) ->
    Self = self(),
    Pids = [spawn_link(fun() ->
                               receive {go, End} -> Self ! {self(), loop(Node, End, [], 0)} end
                       end) || _ <- lists:seq(1, Callers)],
    End = erlang:monotonic_time(microsecond) + Ms * 1000,
    [P ! {go, End} || P <- Pids],
    [receive {P, R} -> R end || P <- Pids].

%% Latencies in µs of successful calls, and the count of failed ones.
loop(Node, End, Lat, Err) ->
    T0 = erlang:monotonic_time(microsecond),
    case T0 >= End of
        true -> {Lat, Err};
        false ->
            R = rpc:call(Node, health, ping, [], 5000),
            T1 = erlang:monotonic_time(microsecond),
            case R of
                pong -> loop(Node, End, [T1 - T0 | Lat], Err);
                _ -> loop(Node, End, Lat, Err + 1)
            end
    end.

pct([], _) -> 0;
pct(Sorted, P) -> lists:nth(max(1, ceil(P * length(Sorted))), Sorted).
