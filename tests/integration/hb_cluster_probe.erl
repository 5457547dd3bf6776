%% Probes run on the cluster suite's peer nodes (hb_cluster_tests): what a
%% BEAM process observes of names, monitors and exits on the daemon.
-module(hb_cluster_probe).
-export([call/2, monitor_down/1, monitor_async/1, await_down/1]).

%% gen_server:call with a short timeout, its exit caught.
call(Dest, Request) ->
    try gen_server:call(Dest, Request, 2000)
    catch exit:Reason -> {'EXIT', Reason}
    end.

%% The reason of the DOWN a monitor on Target gets (timeout if none).
monitor_down(Target) ->
    Ref = erlang:monitor(process, Target),
    receive {'DOWN', Ref, process, _, Reason} -> Reason after 5000 -> timeout end.

%% A process that monitors Target and keeps the DOWN; await_down/1 asks it.
monitor_async(Target) ->
    Parent = self(),
    Pid = spawn(fun() ->
                        Ref = erlang:monitor(process, Target),
                        Parent ! {self(), monitoring},
                        receive
                            {'DOWN', Ref, process, _, Reason} ->
                                receive {get, From} -> From ! {self(), {down, Reason}} end
                        end
                end),
    receive {Pid, monitoring} -> Pid end.

await_down(Watcher) ->
    Watcher ! {get, self()},
    receive {Watcher, Down} -> Down after 10000 -> timeout end.
