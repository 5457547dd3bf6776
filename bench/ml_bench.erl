%% Model throughput through the daemon, from one Erlang client node.
%%   batch:   one caller sending batch_encode of 256 texts, back to back
%%   singles: 256 concurrent callers each sending encode of one text
%% Prints texts/s for each, as markdown rows.
-module(ml_bench).
-export([main/1]).

main([NodeS, ModS, SecsS]) ->
    Node = list_to_atom(NodeS),
    Mod = list_to_atom(ModS),
    Secs = list_to_integer(SecsS),
    Texts = [iolist_to_binary(io_lib:format("The quick brown fox number ~b jumps over ~s.",
                                            [I, lists:nth(I rem 5 + 1, ["the lazy dog", "a fence",
                                             "the moon", "nothing at all", "the stock market"])]))
             || I <- lists:seq(1, 256)],
    [_ | _] = rpc:call(Node, Mod, batch_encode, [Texts]),  % warm-up, and a check
    Batch = run(Secs, 1, fun(_) -> length(rpc:call(Node, Mod, batch_encode, [Texts])) end),
    Singles = run(Secs, 256, fun(I) ->
                                 [_ | _] = rpc:call(Node, Mod, encode, [lists:nth(I, Texts)]),
                                 1
                             end),
    io:format("| batch_encode x256, 1 caller | ~.1f |~n", [Batch]),
    io:format("| encode, 256 concurrent callers | ~.1f |~n", [Singles]),
    halt(0).

%% Runs F in N processes for Secs seconds; returns texts per second.
run(Secs, N, F) ->
    Self = self(),
    Deadline = erlang:monotonic_time(millisecond) + Secs * 1000,
    T0 = erlang:monotonic_time(microsecond),
    Pids = [spawn_link(fun() -> Self ! {self(), loop(F, I, Deadline, 0)} end)
            || I <- lists:seq(1, N)],
    Total = lists:sum([receive {P, C} -> C end || P <- Pids]),
    Total / ((erlang:monotonic_time(microsecond) - T0) / 1.0e6).

loop(F, I, Deadline, Acc) ->
    case erlang:monotonic_time(millisecond) >= Deadline of
        true -> Acc;
        false -> loop(F, I, Deadline, Acc + F(I))
    end.
