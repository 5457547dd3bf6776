%% @doc Discovery.  Knows which GPU nodes exist and starts one
%% {@link hornbeam_node} poller for each:
%% <ul>
%% <li>node names configured in the `nodes' setting (connected to by their
%%     poller, reconnected with back-off while they are down);</li>
%% <li>glob patterns in `nodes' (`"gpu*@host"'): names registered with epmd
%%     on that host are looked up every `rescan_ms', and connected nodes
%%     (`nodes(connected)': hornbeamd may be hidden or visible) that match;</li>
%% <li>members of the `pg' groups `{model, Model}' in the scope `pg_scope',
%%     where the daemons offer them (a missing scope is not an error).</li>
%% </ul>
%% With no `nodes' setting every connected node is tried, and one that does
%% not answer `health:check/0' (no hornbeamd) is ignored until it reconnects.
%% Nodes appear and disappear without a restart (see also {@link hornbeam:add_nodes/1}).
-module(hornbeam_registry).
-behaviour(gen_server).
-export([start_link/0, add_nodes/1, not_hornbeam/1, patterns/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-define(RESCAN_MS, 1000).

-record(st, {patterns = [] :: [node() | {re, term()}],
             configured = [] :: [node()],
             hosts = [] :: [string()],            % hosts of the patterns, for epmd
             pollers = #{} :: #{node() => reference()},
             ignored = #{} :: #{node() => true}}).

-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() -> gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

%% @doc Adds node names or patterns to discover, beside the configured ones.
-spec add_nodes(term()) -> ok.
add_nodes(Spec) -> gen_server:call(?MODULE, {add, Spec}).

%% @doc Called by a poller whose node does not serve health:check.
-spec not_hornbeam(node()) -> ok.
not_hornbeam(Node) -> gen_server:cast(?MODULE, {not_hornbeam, Node}).

%% @doc The compiled discovery patterns.
-spec patterns() -> [node() | {re, term()}].
patterns() -> gen_server:call(?MODULE, patterns).

-spec init([]) -> {ok, #st{}}.
init([]) ->
    %% Rows of a previous incarnation are rebuilt by fresh pollers.
    ets:delete_all_objects(hornbeam_nodes),
    _ = (catch net_kernel:monitor_nodes(true, [{node_type, all}])),
    self() ! rescan,
    {ok, add(hornbeam_state:env(nodes), #st{})}.

-spec handle_call(term(), gen_server:from(), #st{}) -> {reply, term(), #st{}}.
handle_call({add, Spec}, _From, St) ->
    self() ! rescan,
    {reply, ok, add(Spec, St)};
handle_call(patterns, _From, St) ->
    {reply, St#st.patterns, St}.

-spec handle_cast(term(), #st{}) -> {noreply, #st{}}.
handle_cast({not_hornbeam, Node}, St) ->
    {noreply, St#st{ignored = maps:put(Node, true, St#st.ignored)}}.

-spec handle_info(term(), #st{}) -> {noreply, #st{}}.
handle_info(rescan, St) ->
    erlang:send_after(?RESCAN_MS, self(), rescan),
    {noreply, lists:foldl(fun ensure/2, St, discover(St))};
handle_info({nodeup, Node, _Info}, St) ->
    St1 = St#st{ignored = maps:remove(Node, St#st.ignored)},
    case wanted(Node, St1) of
        true -> {noreply, ensure(Node, St1)};
        false -> {noreply, St1}
    end;
handle_info({nodedown, Node, _Info}, St) ->
    hornbeam_node:node_down(Node),
    {noreply, St};
handle_info({'DOWN', _Ref, process, _Pid, {shutdown, {forget, Node}}}, St) ->
    {noreply, St#st{pollers = maps:remove(Node, St#st.pollers)}};
handle_info({'DOWN', Ref, process, _Pid, _Reason}, St) ->
    %% A poller that stopped otherwise: the next rescan starts a new one.
    Pollers = maps:filter(fun(_, R) -> R =/= Ref end, St#st.pollers),
    {noreply, St#st{pollers = Pollers}};
handle_info(_Other, St) ->
    {noreply, St}.

add(Spec, St) ->
    Pats = hornbeam_state:compile_patterns(Spec),
    Names = [N || N <- Pats, is_atom(N)],
    Hosts = [H || {re, _} <- Pats, H <- pattern_hosts(Spec)],
    St#st{patterns = lists:usort(St#st.patterns ++ Pats),
          configured = lists:usort(St#st.configured ++ Names),
          hosts = lists:usort(St#st.hosts ++ Hosts)}.

pattern_hosts(Spec) when is_atom(Spec) -> [];
pattern_hosts(Spec) when is_binary(Spec) -> pattern_hosts(binary_to_list(Spec));
pattern_hosts([C | _] = P) when is_integer(C) ->
    case string:split(P, "@", trailing) of
        [_, Host] -> case lists:member($*, Host) orelse lists:member($?, Host) of
                         true -> [];
                         false -> [Host]
                     end;
        _ -> []
    end;
pattern_hosts(L) when is_list(L) -> lists:flatmap(fun pattern_hosts/1, L).

%% Every node that should have a poller now.
discover(#st{configured = Conf, hosts = Hosts} = St) ->
    Connected = [N || N <- nodes(connected), wanted(N, St)],
    Epmd = [list_to_atom(Name ++ "@" ++ H) || H <- Hosts, Name <- epmd_names(H)],
    lists:usort(Conf ++ Connected ++ [N || N <- Epmd, wanted(N, St)] ++ pg_nodes()).

wanted(Node, #st{patterns = [], ignored = Ign}) -> not maps:is_key(Node, Ign);
wanted(Node, #st{patterns = Pats, ignored = Ign}) ->
    not maps:is_key(Node, Ign) andalso hornbeam_state:matches(Node, Pats).

epmd_names(Host) ->
    case catch net_adm:names(Host) of
        {ok, Names} -> [Name || {Name, _Port} <- Names];
        _ -> []
    end.

%% Nodes of pids in the pg groups {model, _} of the configured scope.
pg_nodes() ->
    Scope = hornbeam_state:env(pg_scope),
    try
        Groups = [G || {model, _} = G <- pg:which_groups(Scope)],
        lists:usort([node(P) || G <- Groups, P <- pg:get_members(Scope, G), node(P) =/= node()])
    catch _:_ -> []
    end.

ensure(Node, St) when Node =:= node() -> St;
ensure(Node, #st{pollers = P} = St) ->
    case maps:is_key(Node, P) of
        true -> St;
        false ->
            Configured = lists:member(Node, St#st.configured),
            case catch supervisor:start_child(hornbeam_node_sup, [Node, Configured]) of
                {ok, Pid} -> St#st{pollers = P#{Node => erlang:monitor(process, Pid)}};
                _ -> St                              % retried at the next rescan
            end
    end.
