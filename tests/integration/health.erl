%% Reference implementation of the daemon's `health` service, served by a
%% plain BEAM node.  The integration tests call the same function on both
%% hornbeamd and this node and compare the results, so every return value and
%% error shape here must be exactly what the daemon produces.
-module(health).
-export([ping/0, check/0, sleep/1]).
-on_load(init/0).

ping() -> pong.

%% Same keys and value types as the daemon's health:check/0.
check() ->
    {UptimeMs, _} = erlang:statistics(wall_clock),
    #{status => ok,
      node => atom_to_binary(node()),
      uptime_s => UptimeMs div 1000,
      version => list_to_binary(erlang:system_info(otp_release)),
      connections => length(nodes(connected)),
      inflight => counters:get(inflight(), 1)}.

%% Test-only helper: block the calling process for Ms milliseconds.
sleep(Ms) when is_integer(Ms), Ms >= 0 ->
    C = inflight(),
    counters:add(C, 1, 1),
    try timer:sleep(Ms) after counters:sub(C, 1, 1) end,
    ok;
sleep(X) ->
    %% error/2 (not a function_clause) so that the caller sees reason
    %% badarg with top frame {health, sleep, [X], _}, as from the daemon.
    erlang:error(badarg, [X]).

%% One shared in-flight counter per node, created once at load time so
%% concurrent first calls cannot race to create it.
init() ->
    persistent_term:put({?MODULE, inflight}, counters:new(1, [write_concurrency])).

inflight() -> persistent_term:get({?MODULE, inflight}).
