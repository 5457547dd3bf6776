%% Serving benchmark (bench/serving_bench.sh): lone-call latency, concurrent
%% single callers, one big batch, and the result cache, from one client node.
%%   serving_bench:main([Daemon, Ref, Secs, BigTexts])
%% The daemon routes `ml` to the model and `mlc` to the same model with a
%% result cache; Ref is a plain BEAM node running serving_standin.
-module(serving_bench).
-export([main/1]).

main([DaemonS, RefS, SecsS, BigS]) ->
    io:setopts([{encoding, unicode}]),
    D = list_to_atom(DaemonS),
    Ref = list_to_atom(RefS),
    Ms = list_to_integer(SecsS) * 1000,
    Big = list_to_integer(BigS),
    [_ | _] = rpc:call(D, ml, encode, [<<"warm up">>]),
    Ping = lone(fun(_) -> pong = rpc:call(D, health, ping, []) end, Ms),
    Encode = lone(fun(I) -> [_ | _] = rpc:call(D, ml, encode, [text(I)]) end, Ms),
    StandIn = lone(fun(I) -> [_ | _] = rpc:call(Ref, serving_standin, encode, [text(I)]) end, Ms),
    io:format("| lone call, 1 caller | p50 µs | p99 µs |~n|---|---:|---:|~n"),
    [io:format("| ~s | ~b | ~b |~n", [N, P50, P99])
     || {N, {P50, P99}} <- [{"health:ping (daemon)", Ping}, {"ml:encode (daemon)", Encode},
                            {"encode on a BEAM stand-in (256 floats)", StandIn}]],
    Singles = rate(256, fun(I) -> [_ | _] = rpc:call(D, ml, encode, [text(I)]), 1 end, Ms),
    io:format("~n| workload | texts/s |~n|---|---:|~n"),
    io:format("| ml:encode, 256 concurrent callers | ~.1f |~n", [Singles]),
    Texts = [text(I) || I <- lists:seq(1, Big)],
    {BigUs, Rows} = timer:tc(fun() -> rpc:call(D, ml, batch_encode_f32, [Texts], 3600000) end),
    Big = length(Rows),
    io:format("| one batch_encode_f32 of ~b texts | ~.1f |~n", [Big, Big / (BigUs / 1.0e6)]),
    Repeat = fun(M) -> fun(I) -> length(rpc:call(D, M, batch_encode, [repeating(I)], 600000)) end end,
    NoCache = rate(4, Repeat(ml), Ms),
    Cache = rate(4, Repeat(mlc), Ms),
    io:format("| batch_encode of 64, 90% repeated texts, cache off | ~.1f |~n", [NoCache]),
    io:format("| the same, cache on | ~.1f (~.1fx) |~n", [Cache, Cache / NoCache]),
    halt(0).

text(I) -> iolist_to_binary(io_lib:format("Query ~b: how do I ~s?",
                                          [I, lists:nth(I rem 4 + 1, ["bake bread", "fix a bike",
                                                                      "learn jazz", "save money"])])).

%% 64 texts, 58 of them from a pool of 100 popular ones, 6 never seen.
repeating(I) ->
    [case K rem 10 of
         0 -> text(1000000 + I * 64 + K);
         _ -> text(rand:uniform(100))
     end || K <- lists:seq(1, 64)].

%% One caller in a loop for Ms: {p50, p99} in µs.
lone(F, Ms) ->
    End = erlang:monotonic_time(microsecond) + Ms * 1000,
    Lat = lists:sort(lone_loop(F, End, 0, [])),
    {pct(Lat, 0.5), pct(Lat, 0.99)}.

lone_loop(F, End, I, Acc) ->
    T0 = erlang:monotonic_time(microsecond),
    case T0 >= End of
        true -> Acc;
        false -> F(I), lone_loop(F, End, I + 1, [erlang:monotonic_time(microsecond) - T0 | Acc])
    end.

%% N processes running F (returning texts done) for Ms: texts per second.
rate(N, F, Ms) ->
    Self = self(),
    End = erlang:monotonic_time(millisecond) + Ms,
    T0 = erlang:monotonic_time(microsecond),
    Pids = [spawn_link(fun() -> Self ! {self(), rate_loop(F, I, End, 0)} end)
            || I <- lists:seq(1, N)],
    Total = lists:sum([receive {P, C} -> C end || P <- Pids]),
    Total / ((erlang:monotonic_time(microsecond) - T0) / 1.0e6).

rate_loop(F, I, End, Acc) ->
    case erlang:monotonic_time(millisecond) >= End of
        true -> Acc;
        false -> rate_loop(F, I + 1000, End, Acc + F(I))
    end.

pct([], _) -> 0;
pct(L, Q) -> lists:nth(max(1, round(Q * length(L))), L).
