%% One door for every call: each way a call can enter hornbeamd -- erpc:call
%% and rpc:call (spawn_request with execute_call), erpc:cast (execute_cast),
%% a plain spawn, the rex server's call, block_call and cast, and the legacy
%% {From, {call, M, F, A, GL}} message of erl_call and ei_rpc -- is refused
%% by max_inflight_per_peer, by max_inflight_total and while draining, each
%% with the answer its form gives on a BEAM node that cannot take the call.
%%
%% run_admission_integration.sh starts the daemon with
%% max_inflight_per_peer 2, max_inflight_total 4 and drain_timeout_s 60.
%% Environment: HB_DAEMON_NODE, HB_DAEMON_PID, HB_COOKIE.
-module(hb_admission_tests).
-include_lib("eunit/include/eunit.hrl").
-import(hb_test_lib, [daemon/0, cookie/0, start_peer/2, wait_until/2, inflight/1]).

%% Run on peer nodes (peer:call/5).
-export([occupy/2, release/1, expect_refused/2, send_casts/1]).

%% Door checks one expect_refused/2 plus send_casts/1 make.
-define(FORMS, 8).
%% Each test is named after its generator and gets a minute.
-define(T(Fun), {atom_to_list(?FUNCTION_NAME), {timeout, 60, Fun}}).

%%---------------------------------------------------------------------------

per_peer_limit_refuses_every_entry_form_test_() ->
    ?T(fun() ->
        D = daemon(),
        {ok, B, _} = start_peer(cookie(), []),
        try
            Held = occupy(D, 2),
            ?assert(wait_until(fun() -> peer:call(B, hb_test_lib, inflight, [D]) =:= 2 end, 5000)),
            R0 = rejected(B, D, inflight_per_peer),
            expect_refused(D, system_limit),
            send_casts(D),
            %% Another node is under its own limit and served.
            ?assertEqual(pong, peer:call(B, rpc, call, [D, health, ping, [], 5000])),
            ?assert(wait_until(fun() -> rejected(B, D, inflight_per_peer) =:= R0 + ?FORMS end,
                               5000)),
            release(Held),
            ?assert(wait_until(fun() -> inflight(D) =:= 0 end, 10000)),
            ?assertEqual(pong, rpc:call(D, health, ping, [], 5000))
        after
            peer:stop(B)
        end
    end).

total_limit_refuses_every_entry_form_test_() ->
    ?T(fun() ->
        D = daemon(),
        {ok, B, _} = start_peer(cookie(), []),
        {ok, C, _} = start_peer(cookie(), []),
        try
            R0 = rejected(B, D, inflight_total),
            Held = occupy(D, 2),
            HeldC = peer:call(C, ?MODULE, occupy, [D, 2]),
            ?assert(wait_until(fun() -> rejected_after_ping(B, D) end, 5000)),
            %% B has nothing in flight: only the node-wide limit refuses it.
            ok = peer:call(B, ?MODULE, expect_refused, [D, system_limit], 30000),
            ok = peer:call(B, ?MODULE, send_casts, [D], 30000),
            release(Held),
            peer:call(C, ?MODULE, release, [HeldC]),
            ?assert(wait_until(fun() -> inflight(D) =:= 0 end, 10000)),
            %% The probe pings of rejected_after_ping/2 were refused too.
            ?assert(rejected(B, D, inflight_total) >= R0 + ?FORMS + 1)
        after
            peer:stop(B),
            peer:stop(C)
        end
    end).

%% Last: the daemon drains and exits.
draining_refuses_every_entry_form_test_() ->
    ?T(fun() ->
        D = daemon(),
        {ok, B, _} = start_peer(cookie(), []),
        try
            Held = occupy(D, 1),
            ?assert(wait_until(fun() -> inflight(D) =:= 1 end, 5000)),
            _ = os:cmd("kill -TERM " ++ os:getenv("HB_DAEMON_PID")),
            Draining = {badrpc, {'EXIT', {hornbeamd, draining}}},
            ?assert(wait_until(fun() -> rpc:call(D, health, ping, [], 5000) =:= Draining end,
                               5000)),
            expect_refused(D, {hornbeamd, draining}),
            ok = peer:call(B, ?MODULE, expect_refused, [D, {hornbeamd, draining}], 30000),
            %% Casts of 20 s sleeps: admitted, they would hold the drain for
            %% 20 s after the last call; refused, the node exits at once.
            send_casts(D),
            release(Held),
            ?assert(wait_until(fun() -> net_adm:ping(D) =:= pang end, 10000))
        after
            peer:stop(B)
        end
    end).

%%---------------------------------------------------------------------------
%% Run here and on peers

%% N calls of health:sleep(20000) from this node, held until release/1.
occupy(D, N) ->
    [spawn(fun() -> erpc:call(D, health, sleep, [20000], 30000) end) || _ <- lists:seq(1, N)].

%% Killing the callers cancels their calls (DEMONITOR_P from their node).
release(Pids) -> [exit(P, kill) || P <- Pids], ok.

%% Every synchronous entry form, each refused with Reason in its own shape.
expect_refused(D, Reason) ->
    BadRpc = {badrpc, {'EXIT', Reason}},
    ?assertEqual(BadRpc, rpc:call(D, health, ping, [], 5000)),
    ?assertEqual(erpc_refusal(Reason), caught(fun() -> erpc:call(D, health, ping, [], 5000) end)),
    expect_spawn_refused(D, Reason),
    GL = group_leader(),
    ?assertEqual(BadRpc, gen_server:call({rex, D}, {call, health, ping, [], GL}, 5000)),
    ?assertEqual(BadRpc, gen_server:call({rex, D}, {block_call, health, ping, [], GL}, 5000)),
    {rex, D} ! {self(), {call, health, ping, [], GL}},
    receive
        {rex, Legacy} -> ?assertEqual(BadRpc, Legacy)
    after 5000 -> error(no_legacy_rex_reply)
    end,
    ok.

%% The two fire-and-forget forms; their refusal is seen in the metrics.
send_casts(D) ->
    ok = erpc:cast(D, health, sleep, [20000]),
    ok = gen_server:cast({rex, D}, {cast, health, sleep, [20000], group_leader()}),
    ok.

%%---------------------------------------------------------------------------

%% What erpc:call raises: a failed spawn_request for a limit, the process's
%% exit while draining.
erpc_refusal(system_limit) -> {error, {erpc, system_limit}};
erpc_refusal(Reason) -> {exit, {exception, Reason}}.

%% A plain spawn: at a limit the spawn itself fails, as on a BEAM node at its
%% process limit; while draining the process exists and exits at once.
expect_spawn_refused(D, system_limit) ->
    ?assertEqual({error, system_limit}, caught(fun() -> spawn_monitor(D, health, ping, []) end));
expect_spawn_refused(D, Reason) ->
    {_, Ref} = spawn_monitor(D, health, ping, []),
    receive
        {'DOWN', Ref, process, _, Why} -> ?assertEqual(Reason, Why)
    after 5000 -> error(no_down_from_spawn)
    end.

caught(Fun) ->
    try Fun() of V -> {ok, V} catch Class:Reason -> {Class, Reason} end.

%% Refusals counted under Reason, read from node Via.
rejected(Via, D, Reason) ->
    M = peer:call(Via, hb_test_lib, metric, [D, rejected_by_reason]),
    maps:get(Reason, M, 0).

%% True once a ping from Via is refused for the node-wide limit.
rejected_after_ping(Via, D) ->
    peer:call(Via, rpc, call, [D, health, ping, [], 5000]) =:= {badrpc, {'EXIT', system_limit}}.
