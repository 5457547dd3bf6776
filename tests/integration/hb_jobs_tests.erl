%% The `jobs` module of a real hornbeamd, from a real Erlang node.
%%
%% run_jobs_integration.sh starts the daemon with a state directory and
%% jobs.max_running = 1, jobs.max_queued = 3. health:sleep(Ms) is the long
%% function (it reports progress as a job); health:ping the short one.
%% Environment: HB_DAEMON_NODE, HB_COOKIE, HB_RESTART_CMD.
-module(hb_jobs_tests).
-include_lib("eunit/include/eunit.hrl").
-import(hb_test_lib, [wait_until/2]).

-define(T(Secs, Fun), {timeout, Secs, Fun}).

node_() -> hb_test_lib:daemon().

call(M, F, A) -> rpc:call(node_(), M, F, A, 30000).

submit(M, F, A) ->
    {ok, Id} = call(jobs, submit, [M, F, A]),
    ?assert(is_binary(Id)),
    Id.

state(Id) -> maps:get(state, call(jobs, status, [Id])).

%% Nothing queued or running, so the next test starts from an empty queue.
idle() ->
    wait_until(fun() ->
                       lists:all(fun(#{state := S}) -> S =/= queued andalso S =/= running end,
                                 call(jobs, list, []))
               end, 15000).

%% ---- the basics ------------------------------------------------------------

submit_await_result_status_test() ->
    Id = submit(health, ping, []),
    ?assertEqual({ok, pong}, call(jobs, await, [Id, 5000])),
    ?assertEqual({ok, pong}, call(jobs, result, [Id])),
    #{state := done, progress := P, message := Msg, submitted_at := S, started_at := St,
      finished_at := F, mfa := {health, ping, 0}} = call(jobs, status, [Id]),
    ?assertEqual(1.0, P),
    ?assert(is_binary(Msg)),
    %% Erlang system time in milliseconds, in order.
    Now = erlang:system_time(millisecond),
    ?assert(S =< St andalso St =< F andalso F =< Now andalso Now - S < 60000),
    ?assert(lists:any(fun(#{id := I}) -> I =:= Id end, call(jobs, list, []))).

pending_then_timeout_then_done_test() ->
    ?assert(idle()),
    Id = submit(health, sleep, [1500]),
    ?assertEqual(pending, call(jobs, result, [Id])),
    ?assertEqual({error, timeout}, call(jobs, await, [Id, 100])),
    ?assertEqual({ok, ok}, call(jobs, await, [Id, infinity])).

failed_job_test() ->
    Id = submit(health, sleep, [-1]),
    ?assertEqual({error, badarg}, call(jobs, await, [Id, 5000])),
    ?assertEqual(failed, state(Id)).

%% subscribe(Id) sends to the process that made the call; submit/4 with
%% #{subscribe => true} subscribes it from the start.
progress_and_subscribe_test() ->
    ?assert(idle()),
    {ok, Id} = call(jobs, submit, [health, sleep, [700], #{subscribe => true}]),
    Progress = collect_progress(Id, []),
    ?assert(length(Progress) >= 2),
    ?assert(lists:all(fun({P, M}) -> P >= 0.0 andalso P =< 1.0 andalso M =:= <<"sleeping">> end,
                      Progress)),
    ?assertEqual(lists:sort([P || {P, _} <- Progress]), [P || {P, _} <- Progress]),
    %% Subscribing to a finished job sends its end at once.
    ?assertEqual(ok, call(jobs, subscribe, [Id])),
    ?assertEqual({ok, ok}, receive {hornbeam_job, Id, {done, R}} -> R after 5000 -> none end),
    %% Through the rex server too (gen_server:call From's pid is the caller).
    ?assertEqual(ok, gen_server:call({rex, node_()}, {call, jobs, subscribe, [Id], user}, 5000)),
    ?assertEqual({ok, ok}, receive {hornbeam_job, Id, {done, R1}} -> R1 after 5000 -> none end),
    %% subscribe/2 names another process.
    Self = self(),
    Other = spawn(fun() -> receive {hornbeam_job, _, {done, R2}} -> Self ! {other, R2} end end),
    Id2 = submit(health, ping, []),
    ?assertEqual(ok, call(jobs, subscribe, [Id2, Other])),
    ?assertEqual({ok, pong}, receive {other, R3} -> R3 after 5000 -> none end),
    %% Progress shows in status while it runs.
    Id3 = submit(health, sleep, [2000]),
    ?assert(wait_until(fun() ->
                               #{progress := P3, message := M3} = call(jobs, status, [Id3]),
                               P3 > 0.0 andalso M3 =:= <<"sleeping">>
                       end, 5000)),
    ok = call(jobs, cancel, [Id3]).

collect_progress(Id, Acc) ->
    receive
        {hornbeam_job, Id, {progress, P, M}} -> collect_progress(Id, [{P, M} | Acc]);
        {hornbeam_job, Id, {done, {ok, ok}}} -> lists:reverse(Acc)
    after 10000 -> error({no_done, lists:reverse(Acc)})
    end.

%% ---- a plugin's progress (ABI 1.3) -----------------------------------------

plugin_progress_reaches_subscriber_and_status_test() ->
    ?assert(idle()),
    {ok, Id} = call(jobs, submit, [steps, steps, [], #{subscribe => true}]),
    Progress = collect(Id, []),
    ?assertMatch({done, {ok, 20}}, lists:last(Progress)),
    Reports = [R || {progress, _, _} = R <- Progress],
    ?assert(length(Reports) >= 2),
    ?assert(lists:all(fun({progress, P, M}) ->
                              P > 0.0 andalso P =< 1.0 andalso
                                  binary:match(M, <<" of 20">>) =/= nomatch
                      end, Reports)),
    ?assertMatch(#{state := done, progress := 1.0}, call(jobs, status, [Id])),
    %% A 1.2 plugin runs the same function as a job, without progress.
    Old = submit(steps_v12, steps, []),
    ?assertEqual({ok, 20}, call(jobs, await, [Old, 10000])).

cancel_plugin_job_stops_it_test() ->
    ?assert(idle()),
    Id = submit(steps, steps, []),
    ?assert(wait_until(fun() -> maps:get(progress, call(jobs, status, [Id])) > 0.0 end, 5000)),
    ?assertEqual(ok, call(jobs, cancel, [Id])),
    ?assertEqual({error, cancelled}, call(jobs, result, [Id])),
    %% The plugin saw the cancellation: the instance is free long before
    %% the 1 s the 20 steps take, so a second job finishes.
    Next = submit(steps_v12, steps, []),
    ?assertEqual({ok, 20}, call(jobs, await, [Next, 10000])).

collect(Id, Acc) ->
    receive
        {hornbeam_job, Id, {progress, P, M}} -> collect(Id, [{progress, P, M} | Acc]);
        {hornbeam_job, Id, {done, R}} -> lists:reverse([{done, R} | Acc])
    after 10000 -> error({no_done, lists:reverse(Acc)})
    end.

%% ---- cancel, callers that go away, limits ------------------------------------

cancel_running_job_test() ->
    ?assert(idle()),
    Id = submit(health, sleep, [20000]),
    ?assert(wait_until(fun() -> state(Id) =:= running end, 5000)),
    ?assertEqual(ok, call(jobs, cancel, [Id])),
    ?assertEqual(cancelled, state(Id)),
    ?assertEqual({error, cancelled}, call(jobs, result, [Id])),
    ?assertEqual({error, finished}, call(jobs, cancel, [Id])),
    %% The worker stops sleeping: nothing left in flight.
    ?assert(wait_until(fun() -> hb_test_lib:inflight(node_()) =:= 0 end, 2000)).

%% A job outlives the node that submitted it.
caller_gone_job_runs_on_test_() ->
    ?T(60, fun() ->
        ?assert(idle()),
        {ok, Peer, PeerNode} = hb_test_lib:start_peer(hb_test_lib:cookie(), []),
        D = node_(),
        {ok, Id} = peer:call(Peer, rpc, call, [D, jobs, submit, [health, sleep, [800]], 5000]),
        peer:stop(Peer),
        ?assertEqual(pang, net_adm:ping(PeerNode)),
        ?assertEqual({ok, ok}, call(jobs, await, [Id, 10000]))
    end).

queue_full_is_overloaded_test() ->
    ?assert(idle()),
    Running = submit(health, sleep, [20000]),
    ?assert(wait_until(fun() -> state(Running) =:= running end, 5000)),
    Queued = [submit(health, sleep, [20000]) || _ <- lists:seq(1, 3)],
    ?assertEqual([queued, queued, queued], [state(I) || I <- Queued]),
    ?assertEqual({error, overloaded}, call(jobs, submit, [health, ping, []])),
    %% Cancelling a queued job frees its place.
    ok = call(jobs, cancel, [hd(Queued)]),
    Again = submit(health, ping, []),
    [ok = call(jobs, cancel, [I]) || I <- [Running | tl(Queued)]],
    ?assertEqual({ok, pong}, call(jobs, await, [Again, 5000])).

bad_arguments_test() ->
    ?assertEqual({error, {undef, {nomod, nofun, 1}}}, call(jobs, submit, [nomod, nofun, [1]])),
    ?assertMatch({badrpc, {'EXIT', {badarg, _}}}, call(jobs, submit, ["health", ping, []])),
    ?assertMatch({badrpc, {'EXIT', {badarg, _}}}, call(jobs, submit, [health, ping, not_a_list])),
    ?assertMatch({badrpc, {'EXIT', {badarg, _}}},
                 call(jobs, submit, [health, ping, [], #{bogus => 1}])),
    ?assertMatch({badrpc, {'EXIT', {badarg, _}}}, call(jobs, submit, [jobs, list, []])),
    ?assertEqual({error, not_found}, call(jobs, status, [<<"no-such-job">>])),
    ?assertEqual({error, not_found}, call(jobs, result, [<<"no-such-job">>])),
    ?assertEqual({error, not_found}, call(jobs, await, [<<"no-such-job">>, 10])),
    ?assertEqual({error, not_found}, call(jobs, cancel, [<<"no-such-job">>])),
    ?assertMatch({badrpc, {'EXIT', {badarg, _}}}, call(jobs, status, [42])),
    ?assertMatch({badrpc, {'EXIT', {badarg, _}}}, call(jobs, await, [<<"x">>, -1])),
    ?assertMatch({badrpc, {'EXIT', {badarg, _}}}, call(jobs, subscribe, [<<"x">>, not_a_pid])).

%% ---- restarts (kept last: they replace the daemon) ---------------------------

%% A finished job's state and result survive a restart, and so does a
%% trained classifier head; a job running at the restart comes back
%% interrupted.
restart_keeps_finished_and_interrupts_running_test_() ->
    ?T(90, fun() ->
        case os:getenv("HB_RESTART_CMD") of
            false -> io:format(user, "restart test: HB_RESTART_CMD not set, skipped~n", []);
            Cmd ->
                ?assert(idle()),
                Done = submit(health, ping, []),
                {ok, pong} = call(jobs, await, [Done, 5000]),
                Before = call(jobs, status, [Done]),
                %% A classifier head is saved too, and loaded at start.
                Text = <<"the chef baked a lemon tart">>,
                #{} = call(ml, train, [#{name => restart_head, model => default,
                                         examples => [{Text, food}, {<<"the storm battered the coast">>, weather},
                                                      {<<"the baker kneaded the dough">>, food},
                                                      {<<"heavy rain flooded the valley">>, weather}],
                                         holdout => 0.0}]),
                Prediction = call(ml, predict, [restart_head, Text]),
                Running = submit(health, sleep, [60000]),
                Queued = submit(health, sleep, [60000]),
                ?assert(wait_until(fun() -> state(Running) =:= running end, 5000)),
                restart(Cmd),
                ?assertEqual(Before, call(jobs, status, [Done])),
                ?assertEqual(Prediction, call(ml, predict, [restart_head, Text])),
                ?assertEqual({ok, pong}, call(jobs, result, [Done])),
                [?assertMatch(#{state := interrupted}, call(jobs, status, [I]))
                 || I <- [Running, Queued]],
                ?assertEqual({error, interrupted}, call(jobs, result, [Running])),
                ?assertEqual({error, interrupted}, call(jobs, await, [Queued, 1000])),
                %% And again: an interrupted job stays interrupted.
                restart(Cmd),
                ?assertEqual({error, interrupted}, call(jobs, result, [Running])),
                ?assertEqual({ok, pong}, call(jobs, result, [Done])),
                %% New ids never reuse old ones.
                New = submit(health, ping, []),
                ?assertNot(lists:member(New, [Done, Running, Queued]))
        end
    end).

restart(Cmd) ->
    D = node_(),
    true = erlang:monitor_node(D, true),
    Out = os:cmd(Cmd),
    Down = receive {nodedown, D} -> nodedown after 15000 -> no_nodedown end,
    Down =:= nodedown orelse io:format(user, "restart command said: ~s~n", [Out]),
    ?assertEqual(nodedown, Down),
    ?assert(wait_until(fun() -> rpc:call(D, health, ping, [], 2000) =:= pong end, 15000)).
