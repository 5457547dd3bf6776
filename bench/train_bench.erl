%% The measuring half of bench/train_bench.sh: for each model, ml:train/1 on
%% tests/data/topics_train.tsv (3 runs, the median), test accuracy on
%% topics_test.tsv, ml:predict/2 latency (one caller, 300 calls, median and
%% p99) and ml:predict_batch/2 throughput (the 125 test texts per call, 3 s).
-module(train_bench).
-export([main/1]).

main([Node, DataDir | Models]) ->
    D = list_to_atom(Node),
    true = net_kernel:connect_node(D),
    Train = examples(DataDir, "topics_train.tsv"),
    Test = examples(DataDir, "topics_test.tsv"),
    io:format("| model | train (375 texts, 30 epochs) | test accuracy | predict p50 / p99 | "
              "predict_batch texts/s |~n| --- | --- | --- | --- | --- |~n"),
    [row(D, list_to_atom(M), Train, Test) || M <- Models],
    halt(0).

row(D, Model, Train, Test) ->
    DS = #{name => bench_head, model => Model, examples => Train, holdout => 0.0, epochs => 30},
    Times = [element(1, timer:tc(fun() -> #{} = rpc:call(D, ml, train, [DS], 600000) end))
             || _ <- lists:seq(1, 3)],
    TrainMs = lists:nth(2, lists:sort(Times)) / 1000,
    Texts = [T || {T, _} <- Test],
    Preds = rpc:call(D, ml, predict_batch, [bench_head, Texts], 60000),
    Acc = length([x || {{_, L}, #{label := L}} <- lists:zip(Test, Preds)]) / length(Test),
    Lat = lists:sort([element(1, timer:tc(fun() -> #{} = rpc:call(D, ml, predict, [bench_head, T], 5000) end))
                      || T <- lists:sublist(lists:append([Texts, Texts, Texts]), 300)]),
    P50 = lists:nth(150, Lat) / 1000,
    P99 = lists:nth(297, Lat) / 1000,
    Deadline = erlang:monotonic_time(millisecond) + 3000,
    N = batches(D, Texts, Deadline, 0),
    io:format("| ~s | ~.1f ms | ~.3f | ~.2f / ~.2f ms | ~w |~n",
              [Model, TrainMs, Acc, P50, P99, round(N * length(Texts) / 3)]).

batches(D, Texts, Deadline, N) ->
    case erlang:monotonic_time(millisecond) >= Deadline of
        true -> N;
        false ->
            [_ | _] = rpc:call(D, ml, predict_batch, [bench_head, Texts], 60000),
            batches(D, Texts, Deadline, N + 1)
    end.

examples(Dir, File) ->
    {ok, Bin} = file:read_file(filename:join(Dir, File)),
    [begin [Label, Text] = binary:split(L, <<"\t">>), {Text, binary_to_atom(Label)} end
     || L <- binary:split(Bin, <<"\n">>, [global, trim_all])].
