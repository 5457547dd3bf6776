%% @doc The supervision tree:
%% ```
%% hornbeam_sup (one_for_all; owns the ETS tables, so they outlive restarts below it)
%% ├── hornbeam_node_sup (simple_one_for_one: one hornbeam_node poller per GPU node)
%% └── hornbeam_registry (discovery: configured names and patterns, nodeup/nodedown, pg)
%% '''
%% Calls never pass through these processes: they run in the caller's
%% process and read the tables.
-module(hornbeam_sup).
-behaviour(supervisor).
-export([start_link/0, init/1]).

-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() -> supervisor:start_link({local, ?MODULE}, ?MODULE, top).

-spec init(top | nodes) -> {ok, {supervisor:sup_flags(), [supervisor:child_spec()]}}.
init(top) ->
    ok = hornbeam_state:new_tables(),
    ok = hornbeam_breaker:new_table(),
    ok = hornbeam_events:new_table(),
    persistent_term:put({hornbeam, telemetry}, code:which(telemetry) =/= non_existing),
    NodeSup = #{id => hornbeam_node_sup, type => supervisor,
                start => {supervisor, start_link, [{local, hornbeam_node_sup}, ?MODULE, nodes]}},
    Registry = #{id => hornbeam_registry, start => {hornbeam_registry, start_link, []}},
    {ok, {#{strategy => one_for_all, intensity => 5, period => 10}, [NodeSup, Registry]}};
init(nodes) ->
    Poller = #{id => hornbeam_node, restart => temporary,
               start => {hornbeam_node, start_link, []}},
    {ok, {#{strategy => simple_one_for_one, intensity => 10, period => 10}, [Poller]}}.
