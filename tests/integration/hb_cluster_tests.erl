%% hornbeamd as a visible node of a BEAM cluster (issue #12): three BEAM
%% nodes a, b, c joined as a->X, b->a, c->b with the daemon X; global stays
%% healthy (sync, register_name, trans, locks), pg finds the model
%% processes, which answer gen_server calls; cuts, a kill -9 of the daemon,
%% 40 nodes coming and going, a reload and a drain. A hidden daemon Y
%% (--hidden) is found through pg too, without appearing in nodes().
%%
%% The runner (run_cluster_integration.sh) names X so that it sorts first
%% or last among the nodes, and sets HB_DAEMON_NODE, HB_HIDDEN_NODE,
%% HB_TMP_DIR, HB_CONFIG, HB_DAEMON_PIDFILE and HB_RESTART_CMD.
-module(hb_cluster_tests).
-include_lib("eunit/include/eunit.hrl").

%% Run on the peers (their code path holds this module).
-export([sync_ms/0, hold_lock/1, collector/2, events/1, churn_node/2]).

-define(SYNC_LIMIT_MS, 5000).

%%% Fixture: the peers a, b, c, each logging to its own file.

cluster_test_() ->
    {setup, fun setup/0, fun cleanup/1,
     fun(S) ->
             {inorder,
              [{"a->X: X is visible in a's nodes() and global syncs everywhere",
                ?_test(visible_and_synced(S))},
               {"register_name on a and c agree everywhere; trans returns",
                ?_test(names_and_trans(S))},
               {"a lock's holder exits or its node goes: the lock goes on X",
                {timeout, 60, ?_test(locks_follow_holders(S))}},
               {"pg finds the model processes; they answer gen_server calls",
                ?_test(model_processes(S))},
               {"unknown names, pids and scopes answer as on a BEAM node",
                ?_test(unknown_targets(S))},
               {"the seed's cluster module finds X unchanged",
                ?_test(seed_cluster_module(S))},
               {"a node whose global_groups lists X: conf_check agreed, global syncs",
                {timeout, 30, ?_test(global_group_member(S))}},
               {"the hidden daemon: in pg, not in nodes()",
                {timeout, 30, ?_test(hidden_daemon(S))}},
               {"40 nodes join and leave while names come and go: no hang, no warning",
                {timeout, 240, ?_test(churn(S))}},
               {"no node's log names X, or tells of an unexpected message or a crash",
                ?_test(quiet_logs(S))},
               {"cut a-X: only X is affected, it comes back on the next ping",
                {timeout, 60, ?_test(cut_a_x(S))}},
               {"cut a-b: every sync still returns",
                {timeout, 60, ?_test(cut_a_b(S))}},
               {"reload a model away and back: leave, then join",
                {timeout, 60, ?_test(reload_away_and_back(S))}},
               {"kill -9 the daemon and restart it: no lock left, nodes reconnect",
                {timeout, 90, ?_test(kill_and_restart(S))}},
               {"after the cuts and the kill: X was never evicted, nothing unexpected",
                ?_test(quiet_logs(S))},
               {"drain: the model processes exit, pg members are gone",
                {timeout, 60, ?_test(drain(S))}}]}
     end}.

setup() ->
    A = start_node("a"),
    B = start_node("b"),
    C = start_node("c"),
    #{a => A, b => B, c => C}.

cleanup(S) ->
    [try peer:stop(P) catch _:_ -> ok end || {P, _N, _L} <- maps:values(S)],
    ok.

x() -> hb_test_lib:daemon().

start_node(Tag) -> start_node(Tag, fun(_Node) -> [] end).

start_node(Tag, ExtraArgs) ->
    start_node("hbc" ++ Tag ++ "_" ++ os:getpid() ++ "_" ++
                   integer_to_list(erlang:unique_integer([positive])), "", ExtraArgs).

%% ExtraArgs(Node) -> the node's extra command-line arguments.
start_node(Name, "", ExtraArgs) ->
    [_, Host] = string:split(atom_to_list(node()), "@"),
    Dir = os:getenv("HB_TMP_DIR"),
    Log = filename:join(Dir, Name ++ ".log"),
    CodeDir = filename:dirname(code:which(?MODULE)),
    Logger = lists:flatten(io_lib:format(
                             "[{handler,default,logger_std_h,#{config=>#{file=>~p}}}]", [Log])),
    {ok, Peer, Node} = peer:start(#{name => list_to_atom(Name), connection => standard_io,
                                    args => ["-setcookie", hb_test_lib:cookie(), "-pa", CodeDir,
                                             "-kernel", "logger", Logger |
                                             ExtraArgs(list_to_atom(Name ++ "@" ++ Host))]}),
    {Peer, Node, Log}.

on({Peer, _, _}, M, F, A) -> peer:call(Peer, M, F, A, 30000).
node_of({_, N, _}) -> N.

%% global:sync() on this node, in milliseconds.
sync_ms() ->
    {T, ok} = timer:tc(global, sync, []),
    T div 1000.

assert_synced(S) ->
    [?assert(on(P, ?MODULE, sync_ms, []) < ?SYNC_LIMIT_MS) || P <- maps:values(S)].

global_info(N) ->
    maps:get(global, maps:get(cluster, rpc:call(N, health, check, [], 5000))).

x_locks() -> maps:get(locks, global_info(x())).

%% Members of Group in scope hornbeam, as node N sees them, that live on Node.
members_on(N, Node, Group) ->
    [P || P <- on(N, pg, get_members, [hornbeam, Group]), node(P) =:= Node].

%%% Tests

visible_and_synced(#{a := A, b := B, c := C} = S) ->
    X = x(),
    ?assertEqual(pong, on(A, net_adm, ping, [X])),
    ?assertEqual(true, on(B, net_kernel, connect_node, [node_of(A)])),
    ?assertEqual(true, on(C, net_kernel, connect_node, [node_of(B)])),
    ?assert(lists:member(X, on(A, erlang, nodes, []))),
    assert_synced(S),
    %% Passive: X never enters global's known set, so nobody is told to
    %% connect to it; b and c are meshed with a, not with X.
    ?assertNot(lists:member(X, on(B, erlang, nodes, []))),
    ?assertNot(lists:member(X, on(A, gen_server, call, [global_name_server, get_known]))),
    ?assert(maps:get(syncs_answered, global_info(X)) >= 1).

names_and_trans(#{a := A, b := B, c := C}) ->
    GA = list_to_atom("hb_ga_" ++ os:getpid()),
    GC = list_to_atom("hb_gc_" ++ os:getpid()),
    PA = on(A, erlang, spawn, [timer, sleep, [infinity]]),
    PC = on(C, erlang, spawn, [timer, sleep, [infinity]]),
    ?assertEqual(yes, on(A, global, register_name, [GA, PA])),
    ?assertEqual(yes, on(C, global, register_name, [GC, PC])),
    [begin
         ?assertEqual(PA, on(P, global, whereis_name, [GA])),
         ?assertEqual(PC, on(P, global, whereis_name, [GC]))
     end || P <- [A, B, C]],
    %% trans locks on [a | nodes()], X included.
    ?assertEqual(done, on(A, global, trans, [{r, node_of(B)}, fun() -> done end])),
    ?assertEqual(done, on(C, global, trans, [{r, node_of(B)}, fun() -> done end])),
    ?assertEqual(0, x_locks()),
    [?assertEqual([], on(P, ets, tab2list, [global_locks])) || P <- [A, B, C]].

%% Takes a lock on [this node | nodes()] and keeps it until told.
hold_lock(Id) ->
    Parent = self(),
    Pid = spawn(fun() ->
                        true = global:set_lock({Id, self()}),
                        Parent ! {self(), locked},
                        receive release -> ok end
                end),
    receive {Pid, locked} -> Pid after 10000 -> error(no_lock) end.

locks_follow_holders(#{a := A}) ->
    X = x(),
    H = on(A, ?MODULE, hold_lock, [hb_lock_a]),
    ?assertEqual(1, x_locks()),
    %% Same requester may lock again; another requester is refused.
    ?assertEqual(false, on(A, global, set_lock, [{hb_lock_a, other}, [X], 0])),
    H ! release,
    ?assert(hb_test_lib:wait_until(fun() -> x_locks() =:= 0 end, 5000)),
    %% The holder's node goes away: the lock goes with it.
    D = start_node("d"),
    ?assertEqual(pong, on(D, net_adm, ping, [X])),
    _ = on(D, ?MODULE, hold_lock, [hb_lock_d]),
    ?assertEqual(1, x_locks()),
    {DPeer, _, _} = D,
    peer:stop(DPeer),
    ?assert(hb_test_lib:wait_until(fun() -> x_locks() =:= 0 end, 10000)).

model_processes(#{a := A}) ->
    X = x(),
    {ok, _} = on(A, pg, start, [hornbeam]),
    ?assert(hb_test_lib:wait_until(fun() -> length(members_on(A, X, {model, default})) =:= 1 end,
                                   5000)),
    [P] = members_on(A, X, {model, default}),
    ?assertMatch([_], members_on(A, X, hornbeam_nodes)),
    Vec = on(A, gen_server, call, [P, {encode, <<"hello">>}]),
    ?assertEqual(Vec, rpc:call(X, ml, encode, [<<"hello">>])),
    Rows = on(A, gen_server, call, [{hornbeam_model_default, X}, {batch_encode, [<<"a">>, "b"]}]),
    ?assertEqual(rpc:call(X, ml, batch_encode, [[<<"a">>, "b"]]), Rows),
    ?assertEqual(Vec, on(A, gen_server, call, [P, {encode, <<"hello">>, #{}}])),
    ?assertMatch(#{name := default}, on(A, gen_server, call, [P, info])),
    ?assertEqual({error, badarg}, on(A, gen_server, call, [P, {encode, 123}])),
    ?assertMatch({error, {unknown_call, nonsense}}, on(A, gen_server, call, [P, nonsense])),
    %% A stray message is dropped; the process goes on.
    on(A, erlang, send, [P, hello]),
    ?assertEqual(Vec, on(A, gen_server, call, [P, {encode, <<"hello">>}])).

unknown_targets(#{a := A}) ->
    X = x(),
    ?assertMatch({'EXIT', {noproc, _}},
                 on(A, hb_cluster_probe, call, [{application_controller, X}, which_applications])),
    ?assertMatch({'EXIT', {noproc, _}}, on(A, hb_cluster_probe, call, [{code_server, X}, get_path])),
    ?assertEqual(noproc, on(A, hb_cluster_probe, monitor_down, [{some_name, X}])),
    ?assertMatch({badrpc, {'EXIT', {undef, _}}}, on(A, rpc, call, [X, code, which, [lists]])),
    {ok, _} = on(A, pg, start, [hb_other_scope]),
    ?assertEqual([], on(A, pg, get_members, [hb_other_scope, {model, default}])),
    ?assertEqual(pong, on(A, net_adm, ping, [X])).

seed_cluster_module(#{a := A}) ->
    X = x(),
    ?assert(lists:member(X, on(A, hb_seed_cluster, gpu_nodes, []))),
    ?assertEqual({ok, X}, on(A, hb_seed_cluster, find_node, [X])),
    Metrics = on(A, hb_seed_cluster, collect_metrics, []),
    ?assertMatch(#{X := #{calls := _}}, Metrics).

global_group_member(_S) ->
    X = x(),
    Groups = fun(Nodes) ->
                     fun(_) ->
                             ["-kernel", "global_groups",
                              lists:flatten(io_lib:format("[{hb_grp, ~p}]", [Nodes]))]
                     end
             end,
    %% G is in X's configured group (the runner's global_groups): agreed.
    GName = os:getenv("HB_GROUP_NODE"),
    [_, Host] = string:split(atom_to_list(node()), "@"),
    G = start_node(GName, "", Groups([list_to_atom(GName ++ "@" ++ Host), X])),
    ?assertEqual(pong, on(G, net_adm, ping, [X])),
    Synced = fun(N) -> proplists:get_value(synced_nodes, on(N, global_group, info, [])) end,
    ?assert(hb_test_lib:wait_until(fun() -> lists:member(X, Synced(G)) end, 5000)),
    ?assert(on(G, ?MODULE, sync_ms, []) < ?SYNC_LIMIT_MS),
    ?assertEqual(lists:sort([node_of(G), X]), rpc:call(X, global_group, get_own_nodes, [])),
    %% H lists X in a group X does not have: H puts it in sync_error, as it
    %% would a BEAM node configured otherwise.
    H = start_node("h", fun(Self) -> (Groups([Self, X]))(Self) end),
    on(H, net_adm, ping, [X]),
    SyncError = fun() -> proplists:get_value(sync_error, on(H, global_group, info, [])) end,
    ?assert(hb_test_lib:wait_until(fun() -> lists:member(X, SyncError()) end, 5000)),
    ?assertNot(lists:member(X, Synced(H))),
    [peer:stop(P) || {P, _, _} <- [G, H]].

hidden_daemon(#{a := A}) ->
    Y = hb_test_lib:node_env("HB_HIDDEN_NODE"),
    ?assertEqual(pong, on(A, net_adm, ping, [Y])),
    ?assertNot(lists:member(Y, on(A, erlang, nodes, []))),
    ?assert(lists:member(Y, on(A, erlang, nodes, [hidden]))),
    ?assert(hb_test_lib:wait_until(
              fun() ->
                      lists:member(Y, [node(P) || P <- on(A, pg, get_members,
                                                         [hornbeam, {model, default}])])
              end, 5000)),
    ?assertEqual(none, maps:get(global, maps:get(cluster, rpc:call(Y, health, check, [])))),
    %% A scope started after its node connected finds Y too: Y asks again
    %% every 5 s (pg's own nodeup discovery never sees hidden nodes).
    E = start_node("e"),
    ?assertEqual(pong, on(E, net_adm, ping, [Y])),
    {ok, _} = on(E, pg, start, [hornbeam]),
    ?assert(hb_test_lib:wait_until(fun() -> length(members_on(E, Y, {model, default})) =:= 1 end,
                                   10000)),
    {EPeer, _, _} = E,
    peer:stop(EPeer),
    ?assert(on(A, ?MODULE, sync_ms, []) < ?SYNC_LIMIT_MS).

cut_a_x(#{a := A, b := B} = S) ->
    X = x(),
    ?assertEqual(true, on(A, erlang, disconnect_node, [X])),
    assert_synced(S),
    %% b and c kept a, and never had X: only X is affected.
    ?assert(lists:member(node_of(A), on(B, erlang, nodes, []))),
    ?assertEqual(pong, on(A, net_adm, ping, [X])),
    ?assert(lists:member(X, on(A, erlang, nodes, []))),
    assert_synced(S),
    ?assert(hb_test_lib:wait_until(
              fun() -> length(members_on(A, X, {model, default})) =:= 1 end, 5000)).

cut_a_b(#{a := A, b := B} = S) ->
    ?assertEqual(true, on(A, erlang, disconnect_node, [node_of(B)])),
    assert_synced(S),
    ?assertEqual(pong, on(B, net_adm, ping, [node_of(A)])),
    assert_synced(S).

%% A process on the peer that monitors a pg group and keeps its events.
collector(Scope, Group) ->
    Parent = self(),
    Pid = spawn(fun() ->
                        {Ref, Now} = pg:monitor(Scope, Group),
                        Parent ! {self(), started},
                        collect(Ref, [{initial, Now}])
                end),
    receive {Pid, started} -> Pid end.

collect(Ref, Acc) ->
    receive
        {Ref, Verb, _Group, Pids} -> collect(Ref, [{Verb, Pids} | Acc]);
        {get, From} -> From ! {events, lists:reverse(Acc)}, collect(Ref, Acc)
    end.

events(Collector) ->
    Collector ! {get, self()},
    receive {events, E} -> E after 5000 -> timeout end.

write_config(Models) ->
    Ms = string:join([io_lib:format("\"~s\": {\"plugin\": \"hashembed\"}", [M]) || M <- Models], ", "),
    ok = file:write_file(os:getenv("HB_CONFIG"),
                         ["{\"models\": {", Ms, "}, \"routes\": {\"ml\": \"default\"}}"]).

daemon_os_pid() ->
    {ok, B} = file:read_file(os:getenv("HB_DAEMON_PIDFILE")),
    string:trim(binary_to_list(B)).

sighup() -> os:cmd("kill -HUP " ++ daemon_os_pid()).

reload_away_and_back(#{a := A}) ->
    X = x(),
    Extra = {model, extra},
    Members = fun() -> [node(P) || P <- on(A, pg, get_members, [hornbeam, Extra])] end,
    ?assert(hb_test_lib:wait_until(fun() -> Members() =:= [X] end, 5000)),
    Col = on(A, ?MODULE, collector, [hornbeam, Extra]),
    write_config(["default"]),
    sighup(),
    ?assert(hb_test_lib:wait_until(fun() -> Members() =:= [] end, 15000)),
    write_config(["default", "extra"]),
    sighup(),
    ?assert(hb_test_lib:wait_until(fun() -> Members() =:= [X] end, 15000)),
    Events = on(A, ?MODULE, events, [Col]),
    ?assertMatch([{initial, [_]}, {leave, [_]}, {join, [_]}], Events),
    %% A reload that keeps the model keeps its process.
    [Before] = members_on(A, X, {model, default}),
    sighup(),
    timer:sleep(1500),
    ?assertEqual([Before], members_on(A, X, {model, default})).

kill_and_restart(#{a := A} = S) ->
    X = x(),
    H = on(A, ?MODULE, hold_lock, [hb_lock_kill]),
    ?assertEqual(1, x_locks()),
    os:cmd("kill -9 " ++ daemon_os_pid()),
    ?assert(hb_test_lib:wait_until(fun() -> not lists:member(X, on(A, erlang, nodes, [])) end,
                                   10000)),
    H ! release,
    Restart = os:getenv("HB_RESTART_CMD"),
    ?assertNotEqual(nomatch, string:find(os:cmd(Restart), "restarted")),
    ?assertEqual(pong, on(A, net_adm, ping, [X])),
    assert_synced(S),
    ?assertEqual(0, x_locks()),
    [?assertEqual([], on(P, ets, tab2list, [global_locks])) || P <- maps:values(S)],
    ?assert(hb_test_lib:wait_until(
              fun() -> length(members_on(A, X, {model, default})) =:= 1 end, 5000)).

%% One short-lived node: connects to X and to a, registers a name, syncs,
%% unregisters; returns the milliseconds its syncs took.
churn_node(A, I) ->
    X = hb_test_lib:daemon(),
    pong = net_adm:ping(X),
    pong = net_adm:ping(A),
    Name = list_to_atom("hb_churn_" ++ integer_to_list(I)),
    Pid = spawn(timer, sleep, [infinity]),
    yes = global:register_name(Name, Pid),
    T1 = sync_ms(),
    _ = global:unregister_name(Name),
    T2 = sync_ms(),
    %% Leave as a node leaves on purpose: global:disconnect/0 (OTP 25.1+)
    %% tells the others, so nobody evicts anyone.
    _ = global:disconnect(),
    max(T1, T2).

churn(#{a := A} = S) ->
    Waves = [lists:seq(W * 8 + 1, W * 8 + 8) || W <- lists:seq(0, 4)],  % 40 nodes
    Self = self(),
    lists:foreach(
      fun(Wave) ->
              Ps = [spawn_link(fun() ->
                                       N = start_node("churn" ++ integer_to_list(I)),
                                       Ms = on(N, ?MODULE, churn_node, [node_of(A), I]),
                                       {P, _, Log} = N,
                                       peer:stop(P),
                                       Self ! {churned, self(), Ms, Log}
                               end) || I <- Wave],
              [receive
                   {churned, P, Ms, Log} ->
                       ?assert(Ms < ?SYNC_LIMIT_MS),
                       put(churn_logs, [Log | case get(churn_logs) of undefined -> []; L -> L end])
               after 120000 -> error(churn_hang)
               end || P <- Ps]
      end, Waves),
    assert_synced(S),
    ?assertEqual(0, x_locks()).

%% No line names the daemon (global never evicts it, nor asks anyone to),
%% and none tells of an unexpected message or a crashed server (global, a
%% pg scope). Nodes leaving make global evict *BEAM* nodes with
%% prevent_overlapping_partitions: that is OTP's own doing (the same churn
%% without X logs as much), so those lines are not counted.
quiet_logs(S) ->
    Logs = [L || {_, _, L} <- maps:values(S)] ++
        case get(churn_logs) of undefined -> []; L -> L end,
    Bad = [{Log, Line} || Log <- Logs, Line <- log_lines(Log), warning_line(Line)],
    [io:format(user, "~s: ~s~n", [filename:basename(Log), Line]) || {Log, Line} <- Bad],
    ?assertEqual([], Bad).

log_lines(File) ->
    case file:read_file(File) of
        {ok, B} -> string:split(B, "\n", all);
        {error, enoent} -> []
    end.

warning_line(Line) ->
    Patterns = [atom_to_binary(x()), <<"unexpected">>, <<"terminating">>, <<"crash">>],
    lists:any(fun(P) -> string:find(Line, P) =/= nomatch end, Patterns).

drain(#{a := A}) ->
    X = x(),
    [P] = members_on(A, X, {model, default}),
    Ref = on(A, hb_cluster_probe, monitor_async, [P]),
    os:cmd("kill -TERM " ++ daemon_os_pid()),
    ?assert(hb_test_lib:wait_until(fun() -> [] =:= members_on(A, X, {model, default}) end, 10000)),
    ?assertEqual([], [N || N <- on(A, pg, get_members, [hornbeam, hornbeam_nodes]), node(N) =:= X]),
    ?assertMatch({down, shutdown}, on(A, hb_cluster_probe, await_down, [Ref])).
