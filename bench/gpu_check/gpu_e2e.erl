%% gpu_e2e: the end-to-end rows of scripts/gpu-check. From a plain erl
%% node, calls ml:batch_encode with 256 texts on a hornbeamd whose default
%% model is the candidate (use_lite_cuda on a GPU), then ml_cpu:batch_encode
%% (use_lite on the CPU) with the same texts, and compares the rows
%% (cosine >= 0.9999 each); then reads health:check's devices.
%%
%%   erl -name c@127.0.0.1 -setcookie C -hidden -noshell -pa EBIN \
%%       -run gpu_e2e main DAEMON_NODE ROWS_FILE EXPECT
%%
%% EXPECT: "cuda" (health:check must list a cuda device) or "none" (the
%% self-test, both models on the CPU). Appends tab-separated rows (check,
%% reference, candidate, verdict) to ROWS_FILE, as gpu_check does, and halts
%% with 0 when none failed.
-module(gpu_e2e).
-export([main/1]).

-define(TEXTS, 256).
-define(MIN_COSINE, 0.9999).
-define(CALL_TIMEOUT, 120000).

main([NodeName, RowsFile, Expect]) ->
    Node = list_to_atom(NodeName),
    Rows = try run(Node, Expect)
           catch Class:Reason ->
               [{"hornbeamd end to end", "", fmt("~p: ~p", [Class, Reason]), "FAIL"}]
           end,
    ok = file:write_file(RowsFile, [[C, $\t, R, $\t, K, $\t, V, $\n] || {C, R, K, V} <- Rows],
                         [append]),
    Failed = [Row || {_, _, _, "FAIL"} = Row <- Rows],
    halt(case Failed of [] -> 0; _ -> 1 end).

run(Node, Expect) ->
    ok = wait_until_serving(Node, erlang:monotonic_time(second) + 90),
    Texts = texts(?TEXTS),
    {GpuUs, Gpu} = timer:tc(fun() -> rpc:call(Node, ml, batch_encode, [Texts], ?CALL_TIMEOUT) end),
    {CpuUs, Cpu} = timer:tc(fun() -> rpc:call(Node, ml_cpu, batch_encode, [Texts], ?CALL_TIMEOUT) end),
    [compare(Gpu, GpuUs, Cpu, CpuUs), devices(Node, Expect)].

%% Until the node answers and health:check shows every model loaded.
wait_until_serving(Node, Deadline) ->
    Models = case net_adm:ping(Node) of
                 pong -> models(rpc:call(Node, health, check, [], 10000));
                 pang -> not_yet
             end,
    case Models of
        ok -> ok;
        {failed, Why} -> throw({model_failed, Why});
        not_yet ->
            case erlang:monotonic_time(second) > Deadline of
                true -> throw({not_serving_within_90_s, Node});
                false -> timer:sleep(200), wait_until_serving(Node, Deadline)
            end
    end.

models(#{models := Models}) ->
    Statuses = [{maps:get(name, M), maps:get(status, M), maps:get(error, M, none)} || M <- Models],
    case [S || {_, Status, _} = S <- Statuses, Status =/= ok] of
        [] -> ok;
        [{Name, Status, Error} | _] when Status =:= failed; Status =:= error ->
            {failed, {Name, Error}};
        _ -> not_yet
    end;
models(_) ->
    not_yet.

compare(Gpu, GpuUs, Cpu, CpuUs) ->
    Check = "hornbeamd: ml:batch_encode of 256 texts, default model vs ml_cpu (use_lite, CPU)",
    Reference = fmt("~.1f ms", [CpuUs / 1000]),
    case {rows(Gpu), rows(Cpu)} of
        {{ok, G}, {ok, C}} ->
            Cosines = [cosine(A, B) || {A, B} <- lists:zip(G, C)],
            Agree = length([X || X <- Cosines, X >= ?MIN_COSINE]),
            Worst = lists:min(Cosines),
            Verdict = case Agree of ?TEXTS -> "PASS"; _ -> "FAIL" end,
            {Check, Reference,
             fmt("~.1f ms; ~b/~b rows agree; worst cosine ~.7f", [GpuUs / 1000, Agree, ?TEXTS, Worst]),
             Verdict};
        {GpuRows, CpuRows} ->
            {Check, fmt("~P", [CpuRows, 8]), fmt("~P", [GpuRows, 8]), "FAIL"}
    end.

%% 256 rows of 512 floats, or what came instead.
rows(Rows) when is_list(Rows), length(Rows) =:= ?TEXTS ->
    case lists:all(fun(R) -> is_list(R) andalso length(R) =:= 512 andalso
                                 lists:all(fun is_float/1, R) end, Rows) of
        true -> {ok, Rows};
        false -> {not_rows_of_512_floats, hd(Rows)}
    end;
rows(Other) ->
    {unexpected, Other}.

cosine(A, B) ->
    {D, NA, NB} = lists:foldl(fun({X, Y}, {D0, A0, B0}) -> {D0 + X * Y, A0 + X * X, B0 + Y * Y} end,
                              {0.0, 0.0, 0.0}, lists:zip(A, B)),
    try D / math:sqrt(NA * NB) catch error:badarith -> 0.0 end.

devices(Node, Expect) ->
    Check = "hornbeamd: health:check devices",
    Devices = case rpc:call(Node, health, check, [], 10000) of
                  #{devices := Ds} -> Ds;
                  _ -> []
              end,
    Cuda = [Dev || Dev <- Devices, str(maps:get(kind, Dev, <<>>)) =:= "cuda"],
    case {Expect, Cuda} of
        {"cuda", [D | _]} ->
            {Check, "", fmt("~s ~s: ~.0f / ~.0f MiB used/total",
                            [str(maps:get(id, D, <<"?">>)), str(maps:get(name, D, <<"?">>)),
                             maps:get(memory_used_bytes, D, 0) / 1048576,
                             maps:get(memory_total_bytes, D, 0) / 1048576]), "PASS"};
        {"cuda", []} ->
            {Check, "", fmt("no cuda device listed: ~P", [Devices, 8]), "FAIL"};
        {_, _} ->
            {Check, "", "models on the CPU: no device expected", "skip"}
    end.

%% Deterministic texts of 1..300 words, a few scripts and emoji among them.
texts(N) ->
    Words = {<<"the">>, <<"model">>, <<"server">>, <<"request">>, <<"of">>, <<"and">>,
             <<"train">>, <<"station">>, <<"weather">>, <<"is">>, <<"lovely">>, <<"today">>,
             <<"distributed">>, <<"systems">>, <<"Erlang">>, <<"processes">>, <<"42">>,
             <<"3.14">>, <<",">>, <<".">>, <<"?">>, <<"Café"/utf8>>, <<"naïve"/utf8>>,
             <<"Zürich"/utf8>>, <<"日本語"/utf8>>, <<"Привет"/utf8>>, <<"😀"/utf8>>,
             <<"GPU">>, <<"batch">>, <<"encode">>},
    [text(I, Words) || I <- lists:seq(1, N)].

text(I, Words) ->
    Count = 1 + (I * 37) rem 300,
    iolist_to_binary(lists:join(<<" ">>, [element(1 + (I * 7 + J * 13) rem tuple_size(Words), Words)
                                          || J <- lists:seq(1, Count)])).

str(B) when is_binary(B) -> binary_to_list(B);
str(A) when is_atom(A) -> atom_to_list(A);
str(X) -> fmt("~p", [X]).

fmt(Format, Args) ->
    lists:flatten(io_lib:format(Format, Args)).
