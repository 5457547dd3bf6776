%% Model calls through a real hornbeamd, from a real Erlang node.
%%
%% run_ml_integration.sh starts the daemon with a configuration of four
%% models: `default` (hashembed, routed from ml and embedding_service),
%% `flaky` (the misbehaving test plugin, routed from flaky), `tiny` (the test
%% plugin with a two-text queue, routed from tiny) and `broken` (a plugin with
%% a mismatched ABI major, routed from broken). Environment: HB_DAEMON_NODE,
%% HB_PLUGIN_DIR (the daemon's plugin directory), HB_DAEMON_LOG, HB_DAEMON_PID.
-module(hb_ml_tests).
-include_lib("eunit/include/eunit.hrl").
-import(hb_test_lib, [wait_until/2]).

node_() -> list_to_atom(os:getenv("HB_DAEMON_NODE")).

call(M, F, A) -> rpc:call(node_(), M, F, A, 30000).

cos(A, B) -> lists:sum([X * Y || {X, Y} <- lists:zip(A, B)]).

%% ---- ml / embedding_service on hashembed ---------------------------------

encode_shapes_test() ->
    V = call(ml, encode, [<<"hello world">>]),
    ?assertEqual(256, length(V)),
    ?assert(lists:all(fun is_float/1, V)),
    ?assert(abs(cos(V, V) - 1.0) < 1.0e-5),
    %% charlists are texts too, and give the same vector as the binary
    ?assertEqual(V, call(ml, encode, ["hello world"])),
    ?assertEqual(V, call(embedding_service, encode, [<<"hello world">>])),
    [R1, R2] = call(ml, batch_encode, [[<<"hello world">>, <<"other"/utf8>>]]),
    ?assertEqual(V, R1),
    ?assertEqual(256, length(R2)),
    ?assertEqual([], call(ml, batch_encode, [[]])),
    B = call(ml, encode_f32, [<<"hello world">>]),
    ?assertEqual(1024, byte_size(B)),
    Floats = [X || <<X:32/float-little>> <= B],
    ?assert(lists:all(fun({X, Y}) -> abs(X - Y) < 1.0e-6 end, lists:zip(Floats, V))),
    [B1, _] = call(ml, batch_encode_f32, [[<<"hello world">>, <<"x">>]]),
    ?assertEqual(B, B1).

unicode_text_test() ->
    V = call(ml, encode, [<<"naïve café — 東京 🚀"/utf8>>]),
    ?assertEqual(256, length(V)),
    ?assertEqual(V, call(ml, encode, ["naïve café — 東京 🚀"])).

semantic_sanity_test() ->
    [A, B, C] = call(ml, batch_encode, [[<<"the cat sat on the mat">>,
                                         <<"a cat sat on a mat">>,
                                         <<"stock prices fell sharply">>]]),
    ?assert(cos(A, B) > cos(A, C)).

bad_arguments_are_badarg_test() ->
    ?assertEqual({badrpc, {'EXIT', {badarg, [{ml, encode, [123], []}]}}},
                 call(ml, encode, [123])),
    ?assertEqual({badrpc, {'EXIT', {badarg, [{ml, batch_encode, [[<<"a">>, 1]], []}]}}},
                 call(ml, batch_encode, [[<<"a">>, 1]])),
    ?assertMatch({badrpc, {'EXIT', {badarg, _}}}, call(ml, encode, [<<255, 254>>])),
    ?assertMatch({badrpc, {'EXIT', {badarg, _}}}, call(ml, batch_encode, [not_a_list])),
    ?assertMatch({badrpc, {'EXIT', {undef, _}}}, call(ml, encode, [])),
    ?assertException(error, {exception, badarg, [{ml, encode, [1.5], []}]},
                     erpc:call(node_(), ml, encode, [1.5])).

concurrent_singles_equal_batch_rows_test_() ->
    {timeout, 120, fun() ->
        N = 2000,
        Texts = [iolist_to_binary(io_lib:format("sentence number ~b about ~s", [I, topic(I)]))
                 || I <- lists:seq(1, N)],
        Rows = call(ml, batch_encode, [Texts]),
        ?assertEqual(N, length(Rows)),
        Self = self(),
        Pids = [spawn_link(fun() -> Self ! {self(), I, call(ml, encode, [T])} end)
                || {I, T} <- lists:zip(lists:seq(1, N), Texts)],
        Got = maps:from_list([receive {P, I, V} -> {I, V} after 60000 -> error(timeout) end
                              || P <- Pids]),
        lists:foreach(fun({I, Row}) -> ?assertEqual(Row, maps:get(I, Got)) end,
                      lists:zip(lists:seq(1, N), Rows)),
        %% They were batched: far fewer batches than calls.
        #{models := #{default := #{batches := Batches, texts := Texts0}}} =
            call(metrics, get_all, []),
        ?assert(Texts0 >= 2 * N),
        ?assert(Batches < Texts0)
    end}.

topic(I) -> lists:nth(I rem 4 + 1, ["cats", "the weather", "finance", "music"]).

%% ---- per-request failures ---------------------------------------------

one_bad_text_fails_only_its_call_test() ->
    Self = self(),
    Good = [spawn_link(fun() -> Self ! {good, call(flaky, encode, [<<"fine">>])} end)
            || _ <- lists:seq(1, 20)],
    ?assertEqual({badrpc, {'EXIT', {badarg, [{flaky, batch_encode, [[<<"ok">>, <<"FAIL">>]], []}]}}},
                 call(flaky, batch_encode, [[<<"ok">>, <<"FAIL">>]])),
    ?assertMatch({badrpc, {'EXIT', {{model_error, internal, <<"exploded">>}, _}}},
                 call(flaky, encode, [<<"BOOM">>])),
    ?assertMatch({badrpc, {'EXIT', {{model_error, internal, _}, _}}},
                 call(flaky, encode, [<<"NAN">>])),
    [receive {good, V} -> ?assertMatch([_, _, _, _], V) end || _ <- Good].

term_functions_test() ->
    %% echo/1 hands back its argument list, decoded from the plugin's bytes.
    ?assertEqual([[hello, #{a => 1}]], call(flaky, echo, [[hello, #{a => 1}]])),
    ?assertMatch({badrpc, {'EXIT', {badarg, [{flaky, fail, [x], []}]}}}, call(flaky, fail, [x])),
    ?assertMatch({badrpc, {'EXIT', {{model_error, internal, _}, _}}}, call(flaky, garbage, [])).

full_queue_is_overloaded_at_once_test() ->
    %% A request larger than the whole queue (max_queue 2) is served on an
    %% idle model: it streams through, never "too big".
    ?assertMatch([_, _, _, _, _],
                 call(tiny, batch_encode, [[<<"a">>, <<"b">>, <<"c">>, <<"d">>, <<"e">>]])),
    %% The instance busy and the queue full of other work: overloaded at once.
    Self = self(),
    Hang = spawn(fun() -> Self ! {hang, rpc:call(node_(), tiny, encode, [<<"HANG">>], 30000)} end),
    ?assert(wait_until(fun() -> busy(tiny) =:= 1 end, 5000)),
    spawn(fun() -> Self ! {filler, call(tiny, batch_encode, [[<<"x">>, <<"y">>]])} end),
    ?assert(wait_until(fun() -> queue_depth(tiny) =:= 2 end, 5000)),
    T0 = erlang:monotonic_time(millisecond),
    ?assertEqual({badrpc, {'EXIT', {overloaded, tiny}}}, call(tiny, encode, [<<"z">>])),
    ?assert(erlang:monotonic_time(millisecond) - T0 < 1000),
    %% The hung call's caller goes away: its work is cancelled, the queue runs.
    exit(Hang, kill),
    receive {filler, R} -> ?assertMatch([_, _], R) after 10000 -> error(filler_stuck) end.

queue_depth(Model) ->
    #{models := Models} = call(health, check, []),
    [N] = [Q || #{name := M, queue_depth := Q} <- Models, M =:= Model],
    N.

caller_timeout_releases_a_hung_execute_test() ->
    ?assertEqual({badrpc, timeout}, rpc:call(node_(), flaky, encode, [<<"HANG">>], 300)),
    ?assert(wait_until(fun() -> busy(flaky) =:= 0 end, 5000)),
    ?assertMatch([_, _, _, _], call(flaky, encode, [<<"after">>])).

busy(Model) ->
    #{models := Models} = call(health, check, []),
    [N] = [B || #{name := M, busy_instances := B} <- Models, M =:= Model],
    N.

%% ---- bad plugins --------------------------------------------------------

abi_mismatch_refused_others_serve_test() ->
    #{status := Status, models := Models} = call(health, check, []),
    ?assertEqual(degraded, Status),
    [Broken] = [M || #{name := broken} = M <- Models],
    ?assertMatch(#{status := failed}, Broken),
    #{error := Err} = Broken,
    ?assertNotEqual(nomatch, binary:match(Err, <<"is incompatible with host ABI 1.3">>)),
    ?assertMatch({badrpc, {'EXIT', {undef, _}}}, call(broken, encode, [<<"x">>])),
    ?assertMatch([_ | _], call(ml, encode, [<<"still serving">>])).

%% ---- hot reload ---------------------------------------------------------

hot_reload_under_load_loses_no_call_test_() ->
    {timeout, 120, fun() ->
        Dir = os:getenv("HB_PLUGIN_DIR"),
        Self = self(),
        Stop = erlang:monotonic_time(millisecond) + 4000,
        Workers = [spawn_link(fun() -> Self ! {done, hammer(Stop, 0, [])} end)
                   || _ <- lists:seq(1, 16)],
        #{reloads := R0} = call(health, check, []),
        timer:sleep(500),
        %% Replace the plugin the way an installer does: new file, rename.
        Src = filename:join(Dir, "hashembed.so"),
        Tmp = filename:join(Dir, ".hashembed.so.new"),
        {ok, _} = file:copy(Src, Tmp),
        ok = file:rename(Tmp, Src),
        ?assert(wait_until(fun() -> maps:get(reloads, call(health, check, [])) > R0 end, 10000)),
        %% And a SIGHUP on top, mid-stream.
        os:cmd("kill -HUP " ++ os:getenv("HB_DAEMON_PID")),
        Results = [receive {done, R} -> R after 30000 -> error(timeout) end || _ <- Workers],
        {Calls, Failures} = lists:foldl(fun({C, F}, {A, B}) -> {A + C, B ++ F} end, {0, []},
                                        Results),
        ?assert(Calls > 100),
        ?assertEqual([], Failures),
        ?assert(wait_until(fun() -> maps:get(reloads, call(health, check, [])) > R0 + 1 end,
                           10000))
    end}.

hammer(Stop, N, Failures) ->
    case erlang:monotonic_time(millisecond) > Stop of
        true -> {N, Failures};
        false ->
            case call(ml, encode, [<<"reload me">>]) of
                V when is_list(V), length(V) =:= 256 -> hammer(Stop, N + 1, Failures);
                Other -> hammer(Stop, N + 1, [Other | Failures])
            end
    end.

