%% Erlang-side integration tests for hornbeamd, run on a client node by
%% run_integration.sh.  Every call is made against the daemon and, where the
%% semantics should be identical, against a reference BEAM node serving
%% health.erl; results are compared after stripping file/line info.
%%
%% Environment (set by the harness):
%%   HB_DAEMON_NODE  daemon node name, e.g. hbgpu_123@host
%%   HB_REF_NODE     reference BEAM node name
%%   HB_COOKIE       cluster cookie (peer nodes started here need it)
%%   HB_RESTART_CMD  shell command that restarts the daemon under the same name
-module(hb_rpc_tests).
-include_lib("eunit/include/eunit.hrl").
-import(hb_test_lib, [cookie/0, start_peer/2, wait_until/2, inflight/1]).

%% Run on peer nodes (peer:call/5), so they must be exported.
-export([concurrent_pings/2, idle_probe/2]).

%% A test with its own time limit, named after the generator function.
-define(T(Secs, Fun), {atom_to_list(?FUNCTION_NAME), {timeout, Secs, Fun}}).

%% Functions that do not exist on either node, or fail with badarg.  The
%% undef stack echoes Args, so odd argument terms check that the daemon
%% passes every external term format back unchanged.
error_cases() ->
    [{hb_no_such_module, f, [1]},
     {health, no_such_function, []},
     {health, ping, [extra_arg]},
     {health, sleep, [foo]},
     {health, sleep, [-1]},
     {health, sleep, [1.5]},
     {hb_no_such_module, f,
      [<<"bin">>, {t, 1.5, -7}, #{k => [1, 2]}, 1 bsl 70, -(1 bsl 80), "str", [],
       self(), make_ref(), hd(erlang:ports())]},
     {hb_no_such_module, bits_and_atoms,
      [<<1:3>>, [a | b], 'héllo', list_to_atom([16#1F600]), -0.0, {},
       binary:copy(<<"x">>, 70000)]},
     {hb_no_such_module, export_fun, [fun lists:reverse/1]},
     {hb_no_such_module, local_fun, [fun() -> ok end]}].

%%---------------------------------------------------------------------------
%% Plain calls

net_adm_ping_test() ->
    ?assertEqual(pong, net_adm:ping(daemon())).

rpc_call4_test() ->
    ?assertEqual(pong, rpc:call(daemon(), health, ping, [])).

rpc_call5_test() ->
    ?assertEqual(pong, rpc:call(daemon(), health, ping, [], 5000)).

erpc_call_test() ->
    ?assertEqual(pong, erpc:call(daemon(), health, ping, [], 5000)).

health_check_shape_test() ->
    D = daemon(),
    Check = rpc:call(D, health, check, [], 5000),
    Ref = rpc:call(ref(), health, check, [], 5000),
    ?assertMatch(#{status := ok}, Check),
    ?assertEqual(atom_to_binary(D), maps:get(node, Check)),
    %% Same keys and value types as the reference implementation.
    [?assertEqual({K, type_of(maps:get(K, Ref))}, {K, type_of(maps:get(K, Check, missing))})
     || K <- [status, node, uptime_s, version, connections, inflight]],
    ?assert(maps:get(connections, Check) >= 1).

metrics_shape_test() ->
    D = daemon(),
    pong = rpc:call(D, health, ping, [], 5000),
    M = rpc:call(D, metrics, get_all, [], 5000),
    ?assert(is_map(M)),
    [?assert(is_integer(maps:get(K, M, missing))) || K <- [requests_total, errors_total, inflight]],
    Calls = maps:get(calls, M),
    ?assertMatch(#{{health, ping} := #{}}, Calls),
    maps:foreach(
      fun(Key, Stats) ->
              ?assertMatch({A, B} when is_atom(A) andalso is_atom(B), Key),
              [?assert(is_integer(maps:get(S, Stats, missing)))
               || S <- [count, errors, p50_us, p99_us]]
      end, Calls).

metrics_count_errors_test() ->
    D = daemon(),
    E0 = call_stat({health, sleep}, errors),
    T0 = metric(errors_total),
    {badrpc, {'EXIT', {badarg, _}}} = rpc:call(D, health, sleep, [foo], 5000),
    ?assert(call_stat({health, sleep}, errors) >= E0 + 1),
    ?assert(metric(errors_total) >= T0 + 1).

%%---------------------------------------------------------------------------
%% Every call API, against both nodes

rpc_multicall_test() ->
    Nodes = [daemon(), ref()],
    ?assertEqual({[pong, pong], []}, rpc:multicall(Nodes, health, ping, [], 5000)),
    %% A node that does not exist is reported as bad, the others still answer.
    Bogus = list_to_atom("hb_nobody@" ++ host()),
    ?assertEqual({[pong, pong], [Bogus]},
                 rpc:multicall(Nodes ++ [Bogus], health, ping, [], 5000)).

rpc_async_call_test() ->
    D = daemon(),
    ?assertEqual(pong, rpc:yield(rpc:async_call(D, health, ping, []))),
    ?assertEqual({value, pong}, rpc:nb_yield(rpc:async_call(D, health, ping, []), 5000)),
    %% A slow call is not ready at once, but is later.
    Key = rpc:async_call(D, health, sleep, [500]),
    ?assertEqual(timeout, rpc:nb_yield(Key, 0)),
    ?assertEqual({value, ok}, rpc:nb_yield(Key, 5000)).

erpc_send_request_test() ->
    ?assertEqual(pong,
                 erpc:receive_response(erpc:send_request(daemon(), health, ping, []), 5000)).

%% A slow call must not hold up a later one on the same connection, as on BEAM.
erpc_slow_call_does_not_block_test_() ->
    ?T(30, fun() ->
        [begin
             Slow = erpc:send_request(N, health, sleep, [2000]),
             Fast = erpc:send_request(N, health, ping, []),
             ?assertEqual({N, pong}, {N, erpc:receive_response(Fast, 1000)}),
             ?assertEqual({N, ok}, {N, erpc:receive_response(Slow, 5000)})
         end || N <- [ref(), daemon()]]
    end).

erpc_multicall_test() ->
    ?assertEqual([{ok, pong}, {ok, pong}],
                 erpc:multicall([daemon(), ref()], health, ping, [], 5000)).

rex_call_test() ->
    D = daemon(),
    GL = group_leader(),
    ?assertEqual(pong, gen_server:call({rex, D}, {call, health, ping, [], GL}, 5000)),
    ?assertEqual(pong, gen_server:call({rex, D}, {block_call, health, ping, [], GL}, 5000)),
    ?assertEqual(pong, rpc:block_call(D, health, ping, [], 5000)).

%% Same error shapes as BEAM, through every API that returns one.
error_shapes_test_() ->
    [{lists:flatten(io_lib:format("~s ~p:~p ~P", [Api, M, F, A, 4])),
      fun() ->
              Want = norm(Call(ref(), M, F, A)),
              Got = norm(Call(daemon(), M, F, A)),
              ?assertEqual(Want, Got)
      end}
     || {M, F, A} <- error_cases(), {Api, Call} <- call_apis()].

call_apis() ->
    T = 5000,
    [{"rpc:call", fun(N, M, F, A) -> rpc:call(N, M, F, A, T) end},
     {"rpc:block_call", fun(N, M, F, A) -> rpc:block_call(N, M, F, A, T) end},
     {"erpc:call", fun(N, M, F, A) -> caught(fun() -> erpc:call(N, M, F, A, T) end) end},
     {"rex call",
      fun(N, M, F, A) -> gen_server:call({rex, N}, {call, M, F, A, group_leader()}, T) end},
     {"rex block_call",
      fun(N, M, F, A) -> gen_server:call({rex, N}, {block_call, M, F, A, group_leader()}, T) end},
     {"rpc:async_call",
      fun(N, M, F, A) -> rpc:nb_yield(rpc:async_call(N, M, F, A), T) end},
     {"erpc:send_request",
      fun(N, M, F, A) ->
              caught(fun() -> erpc:receive_response(erpc:send_request(N, M, F, A), T) end)
      end},
     {"erpc:multicall", fun(N, M, F, A) -> erpc:multicall([N], M, F, A, T) end},
     {"rpc:multicall", fun(N, M, F, A) -> rpc:multicall([N], M, F, A, T) end}].

os_cmd_is_undef_test() ->
    ?assertEqual({badrpc, {'EXIT', {undef, [{os, cmd, ["echo hi"], []}]}}},
                 rpc:call(daemon(), os, cmd, ["echo hi"], 5000)).

%%---------------------------------------------------------------------------
%% Casts: nothing comes back, so check the daemon's per-call counter moved.

rpc_cast_test() ->
    assert_cast_ran(fun(D) -> true = rpc:cast(D, health, ping, []) end).

erpc_cast_test() ->
    assert_cast_ran(fun(D) -> ok = erpc:cast(D, health, ping, []) end).

erpc_multicast_test() ->
    assert_cast_ran(fun(D) -> ok = erpc:multicast([D, ref()], health, ping, []) end).

rex_cast_test() ->
    assert_cast_ran(
      fun(D) -> ok = gen_server:cast({rex, D}, {cast, health, ping, [], group_leader()}) end).

assert_cast_ran(Cast) ->
    C0 = call_stat({health, ping}, count),
    Cast(daemon()),
    ?assert(wait_until(fun() -> call_stat({health, ping}, count) >= C0 + 1 end, 5000)).

%%---------------------------------------------------------------------------
%% Timeouts and cancellation

caller_timeout_test_() ->
    ?T(30, fun() ->
        D = daemon(),
        K0 = metric(cancelled_total),
        %% Same answer as from a BEAM node.
        [?assertEqual({badrpc, timeout}, rpc:call(N, health, sleep, [2000], 200))
         || N <- [ref(), D]],
        ?assertEqual(pong, rpc:call(D, health, ping, [], 5000)),
        ?assert(wait_until(fun() -> inflight(D) =:= 0 end, 5000)),
        ?assert(wait_until(fun() -> metric(cancelled_total) >= K0 + 1 end, 5000))
    end).

erpc_receive_response_timeout_test_() ->
    ?T(30, fun() ->
        D = daemon(),
        [?assertEqual({error, {erpc, timeout}},
                      caught(fun() ->
                                     erpc:receive_response(
                                       erpc:send_request(N, health, sleep, [2000]), 200)
                             end))
         || N <- [ref(), D]],
        ?assertEqual(pong, rpc:call(D, health, ping, [], 5000)),
        ?assert(wait_until(fun() -> inflight(D) =:= 0 end, 5000))
    end).

%% The calling node dies while its call is running on the daemon.
client_killed_mid_call_test_() ->
    ?T(60, fun() ->
        D = daemon(),
        K0 = metric(cancelled_total),
        {ok, P, _} = start_peer(cookie(), []),
        try
            OsPid = peer:call(P, os, getpid, []),
            _ = peer:call(P, erlang, spawn, [rpc, call, [D, health, sleep, [3000]]]),
            ?assert(wait_until(fun() -> inflight(D) >= 1 end, 5000)),
            _ = os:cmd("kill -9 " ++ OsPid),
            ?assertEqual(pong, rpc:call(D, health, ping, [], 5000)),
            ?assert(wait_until(fun() -> inflight(D) =:= 0 end, 10000)),
            ?assert(wait_until(fun() -> metric(cancelled_total) >= K0 + 1 end, 5000))
        after
            caught(fun() -> peer:stop(P) end)   % already gone unless an assertion failed first
        end
    end).

%%---------------------------------------------------------------------------
%% Load, authentication, liveness

%% 200 concurrent callers, half here and half on a second client node.
concurrent_callers_test_() ->
    ?T(120, fun() ->
        D = daemon(),
        {ok, P, _} = start_peer(cookie(), []),
        try
            Self = self(),
            Remote = fun() -> peer:call(P, ?MODULE, concurrent_pings, [D, 100], 60000) end,
            spawn_link(fun() -> Self ! {remote, caught(Remote)} end),
            Local = concurrent_pings(D, 100),
            Got = receive {remote, R} -> R after 90000 -> remote_timeout end,
            ?assertEqual(lists:duplicate(100, pong), Local),
            ?assertEqual({ok, lists:duplicate(100, pong)}, Got)
        after
            peer:stop(P)
        end
    end).

%% N processes each do one rpc:call; returns their results in order.
concurrent_pings(Node, N) ->
    Self = self(),
    Pids = [spawn_link(fun() ->
                               receive go -> ok end,
                               Self ! {self(), rpc:call(Node, health, ping, [], 30000)}
                       end) || _ <- lists:seq(1, N)],
    [Pid ! go || Pid <- Pids],   % release them together
    [receive {Pid, R} -> R after 45000 -> {no_reply, Pid} end || Pid <- Pids].

wrong_cookie_test_() ->
    ?T(60, fun() ->
        {ok, P, _} = start_peer("hb_wrong_cookie", []),
        try
            %% Refused by the daemon exactly as by a BEAM node.
            ?assertEqual(pang, peer:call(P, net_adm, ping, [ref()], 15000)),
            ?assertEqual(pang, peer:call(P, net_adm, ping, [daemon()], 15000)),
            ?assertEqual(pong, rpc:call(daemon(), health, ping, [], 5000))
        after
            peer:stop(P)
        end
    end).

%% With net_ticktime 4 the peer drops any connection that is silent for
%% ~4 s.  A BEAM node with the default 60 s would be dropped (it ticks only
%% every 15 s); the daemon must answer ticks so an idle client stays up.
idle_connection_survives_short_ticktime_test_() ->
    ?T(60, fun() ->
        {ok, P, _} = start_peer(cookie(), ["-kernel", "net_ticktime", "4"]),
        try
            ?assertEqual({4, pong, no_nodedown, true, pong},
                         peer:call(P, ?MODULE, idle_probe, [daemon(), 12000], 30000))
        after
            peer:stop(P)
        end
    end).

%% Runs on the peer: connect, stay idle, report whether the link survived.
idle_probe(Node, IdleMs) ->
    Ping = net_adm:ping(Node),
    true = erlang:monitor_node(Node, true),
    Down = receive {nodedown, Node} -> nodedown after IdleMs -> no_nodedown end,
    Still = lists:member(Node, nodes(hidden)),
    {net_kernel:get_net_ticktime(), Ping, Down, Still, net_adm:ping(Node)}.

%% SIGTERM with a call in flight: new calls are refused with {hornbeamd,
%% draining} through rpc and erpc while the call in flight still completes;
%% then a fresh daemon for the tests after this one. Kept second to last (eunit
%% runs tests in order) since it stops the daemon.
daemon_drain_test_() ->
    ?T(90, fun() ->
        case {os:getenv("HB_DAEMON_PIDFILE"), os:getenv("HB_RESTART_CMD")} of
            {PidFile, Cmd} when PidFile =:= false; Cmd =:= false ->
                io:format(user, "daemon_drain_test: HB_DAEMON_PIDFILE/HB_RESTART_CMD not set, "
                                "skipped~n", []);
            {PidFile, Cmd} ->
                D = daemon(),
                {ok, PidText} = file:read_file(PidFile),
                OsPid = string:trim(binary_to_list(PidText)),
                Self = self(),
                spawn_link(fun() -> Self ! {slow, rpc:call(D, health, sleep, [3000], 15000)} end),
                ?assert(wait_until(fun() -> inflight(D) >= 1 end, 5000)),
                true = erlang:monitor_node(D, true),
                "" = os:cmd("kill -TERM " ++ OsPid),
                Draining = {badrpc, {'EXIT', {hornbeamd, draining}}},
                ?assert(wait_until(fun() -> rpc:call(D, health, ping, [], 2000) =:= Draining end,
                                   2000)),
                ?assertEqual({exit, {exception, {hornbeamd, draining}}},
                             caught(fun() -> erpc:call(D, health, ping, [], 2000) end)),
                ?assertEqual({slow, ok}, receive {slow, _} = S -> S after 15000 -> none end),
                %% Drained: the daemon goes away by itself.
                ?assertEqual(nodedown, receive {nodedown, D} -> nodedown after 10000 -> up end),
                _ = os:cmd(Cmd),
                ?assert(wait_until(fun() -> rpc:call(D, health, ping, [], 2000) =:= pong end,
                                   15000))
        end
    end).

%% Kept last in the file (eunit runs tests in order) since it replaces the daemon.
daemon_restart_test_() ->
    ?T(90, fun() ->
        case os:getenv("HB_RESTART_CMD") of
            false ->
                io:format(user, "daemon_restart_test: HB_RESTART_CMD not set, skipped~n", []);
            Cmd ->
                D = daemon(),
                ?assertEqual(pong, rpc:call(D, health, ping, [], 5000)),
                true = erlang:monitor_node(D, true),
                Out = os:cmd(Cmd),
                %% The old daemon must really have gone away.
                Down = receive {nodedown, D} -> nodedown after 10000 -> no_nodedown end,
                Down =:= nodedown orelse io:format(user, "restart command said: ~s~n", [Out]),
                ?assertEqual(nodedown, Down),
                %% Reconnect, retrying briefly while the new one registers.
                ?assert(wait_until(fun() -> rpc:call(D, health, ping, [], 2000) =:= pong end,
                                   15000)),
                ?assertMatch(#{status := ok}, rpc:call(D, health, check, [], 5000))
        end
    end).

%%---------------------------------------------------------------------------
%% Helpers

daemon() -> hb_test_lib:daemon().
ref() -> hb_test_lib:node_env("HB_REF_NODE").

metric(Key) -> hb_test_lib:metric(daemon(), Key).

host() -> tl(lists:dropwhile(fun(C) -> C =/= $@ end, atom_to_list(node()))).

call_stat(MF, Key) ->
    Calls = metric(calls),
    maps:get(Key, maps:get(MF, Calls, #{}), 0).

caught(Fun) ->
    try {ok, Fun()} catch Class:Reason -> {Class, Reason} end.

%% Replace every stack trace with its top frame's {M, F, Args}: BEAM adds
%% file/line info and the daemon does not; only the frame itself must agree.
norm([{M, F, A, Loc} | _]) when is_atom(M), is_atom(F), is_list(Loc),
                                (is_list(A) orelse is_integer(A)) ->
    {top_frame, M, F, A};
norm(L) when is_list(L) -> [norm(X) || X <- L];
norm(T) when is_tuple(T) -> list_to_tuple([norm(X) || X <- tuple_to_list(T)]);
norm(X) -> X.

type_of(X) when is_atom(X) -> atom;
type_of(X) when is_binary(X) -> binary;
type_of(X) when is_integer(X) -> integer;
type_of(X) when is_map(X) -> map;
type_of(X) when is_list(X) -> list;
type_of(_) -> other.
