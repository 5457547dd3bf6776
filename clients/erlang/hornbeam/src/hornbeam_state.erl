%% @doc The shared state every caller reads in its own process: one row per
%% known GPU node in `hornbeam_nodes' (written by the node's poller, except
%% the overload mark and the draining mark, which callers set when a node
%% refuses them), and this client's outstanding calls and mean latency per
%% node in `hornbeam_load' (atomic counters).
-module(hornbeam_state).
-export([new_tables/0, env/1, now_ms/0,
         node_put/2, node_get/1, node_delete/1, known_nodes/0,
         mark/3, begin_call/1, end_call/2, outstanding/1, latency_ms/1,
         candidates/3, matches/2, compile_patterns/1, info/0]).

-define(NODES, hornbeam_nodes).
-define(LOAD, hornbeam_load).
%% Latency EWMA weight of the newest sample, in 1/16.
-define(EWMA_NEW, 4).

-type node_state() :: unknown | up | down | draining | degraded.
-type model_info() :: #{status := atom(), instances := non_neg_integer(),
                        queue_depth := non_neg_integer(), busy_instances := non_neg_integer()}.
-type node_info() :: #{state := node_state(),
                       models := #{atom() => model_info()} | unknown,
                       configured := boolean(),
                       since := integer(),
                       overloaded_until => integer(),
                       inflight => non_neg_integer()}.
-export_type([node_state/0, node_info/0]).

%% @doc Creates the tables (called by the registry, their owner).
-spec new_tables() -> ok.
new_tables() ->
    Opts = [named_table, public, set, {read_concurrency, true}, {write_concurrency, true}],
    ?NODES = ets:new(?NODES, Opts),
    ?LOAD = ets:new(?LOAD, Opts),
    ok.

%% @doc An application setting (see hornbeam.app.src for the defaults).
-spec env(atom()) -> term().
env(Key) ->
    case application:get_env(hornbeam, Key) of
        {ok, V} -> V;
        undefined -> default(Key)
    end.

default(poll_interval_ms) -> 250;
default(poll_timeout_ms) -> 2000;
default(reconnect_min_ms) -> 100;
default(reconnect_max_ms) -> 5000;
default(forget_after_ms) -> 60000;
default(breaker_threshold) -> 5;
default(breaker_open_ms) -> 5000;
default(overload_backoff_ms) -> 200;
default(default_timeout) -> 30000;
default(default_retries) -> 2;
default(min_split) -> 8;
default(weights) -> #{};
default(pg_scope) -> hornbeam;
default(nodes) -> [].

-spec now_ms() -> integer().
now_ms() -> erlang:monotonic_time(millisecond).

%% @doc Stores a node's row (the poller and the registry).
-spec node_put(node(), node_info()) -> ok.
node_put(Node, Info) ->
    ets:insert(?NODES, {Node, Info}),
    ets:insert_new(?LOAD, {Node, 0, 0}),
    ok.

-spec node_get(node()) -> node_info() | undefined.
node_get(Node) ->
    try ets:lookup(?NODES, Node) of
        [{_, I}] -> I;
        [] -> undefined
    catch error:badarg -> undefined
    end.

-spec node_delete(node()) -> ok.
node_delete(Node) ->
    catch ets:delete(?NODES, Node),
    catch ets:delete(?LOAD, Node),
    hornbeam_breaker:forget(Node).

-spec known_nodes() -> [{node(), node_info()}].
known_nodes() ->
    try ets:tab2list(?NODES) catch error:badarg -> [] end.

%% @doc A caller's mark on a node it was refused by: `overloaded' (no new
%% work for overload_backoff_ms) or `draining' (no new work until a health
%% check says otherwise).  `down' likewise, on a lost connection.
-spec mark(node(), overloaded | draining | down, integer()) -> ok.
mark(Node, What, Now) ->
    case node_get(Node) of
        undefined -> ok;
        Info ->
            New = case What of
                      overloaded -> Info#{overloaded_until => Now + env(overload_backoff_ms)};
                      draining when map_get(state, Info) =/= draining ->
                          hornbeam_events:emit([node, draining], #{}, #{node => Node}),
                          Info#{state := draining, since := Now};
                      down when map_get(state, Info) =/= down -> Info#{state := down, since := Now};
                      _ -> Info
                  end,
            New =:= Info orelse (catch ets:insert(?NODES, {Node, New})),
            ok
    end.

%% @doc Counts a call to Node as outstanding.
-spec begin_call(node()) -> ok.
begin_call(Node) ->
    catch ets:update_counter(?LOAD, Node, {2, 1}, {Node, 0, 0}),
    ok.

%% @doc Ends an outstanding call; a `LatencyMs' sample (or `none') updates the
%% node's mean latency.
-spec end_call(node(), number() | none) -> ok.
end_call(Node, Sample) ->
    catch ets:update_counter(?LOAD, Node, {2, -1, 0, 0}, {Node, 0, 0}),
    case Sample of
        none -> ok;
        Ms ->
            %% A racy read-modify-write: a lost sample does not matter.
            Old = latency_us(Node),
            Us = round(Ms * 1000),
            New = case Old of 0 -> Us; _ -> (Old * (16 - ?EWMA_NEW) + Us * ?EWMA_NEW) div 16 end,
            catch ets:update_element(?LOAD, Node, {3, max(New, 1)}),
            ok
    end.

-spec outstanding(node()) -> non_neg_integer().
outstanding(Node) ->
    try ets:lookup_element(?LOAD, Node, 2) catch error:badarg -> 0 end.

latency_us(Node) ->
    try ets:lookup_element(?LOAD, Node, 3) catch error:badarg -> 0 end.

%% @doc The node's mean call latency in ms (0: none measured yet).
-spec latency_ms(node()) -> float().
latency_ms(Node) -> latency_us(Node) / 1000.

%% @doc The nodes that may take new work for Model now, as balance
%% candidates: state up (or unknown: connected, not yet polled), not marked
%% overloaded, breaker allowing, serving Model when its models are known,
%% matching the compiled `nodes' option.
-spec candidates(atom(), [node()] | all, integer()) -> [hornbeam_balance:candidate()].
candidates(Model, Filter, Now) ->
    case candidates(Model, Filter, Now, true) of
        %% Nodes that said overloaded a moment ago are the last resort.
        [] -> candidates(Model, Filter, Now, false);
        Cands -> Cands
    end.

candidates(Model, Filter, Now, AvoidOverloaded) ->
    Weights = env(weights),
    Rows = [{N, I} || {N, I} <- known_nodes(),
                      eligible(N, I, Model, Filter, Now),
                      not (AvoidOverloaded andalso overloaded(I, Now))],
    Lats = [L || {N, _} <- Rows, (L = latency_ms(N)) > 0],
    DefaultLat = case Lats of [] -> 1.0; _ -> lists:sum(Lats) / length(Lats) end,
    [begin
         {Cap, Queue} = capacity(I, Model),
         Lat = case latency_ms(N) of L when L > 0 -> L; _ -> DefaultLat end,
         #{node => N, capacity => Cap * maps:get(N, Weights, 1),
           load => outstanding(N) + Queue / 64, latency_ms => Lat}
     end || {N, I} <- Rows].

eligible(N, #{state := State, models := Models}, Model, Filter, Now) ->
    (State =:= up orelse State =:= unknown)
        andalso (Filter =:= all orelse lists:member(N, Filter))
        andalso (Models =:= unknown orelse Model =:= undefined orelse serves(Models, Model))
        andalso hornbeam_breaker:allows(N, Now).

%% Monotonic time may be negative: no mark means not overloaded.
overloaded(#{overloaded_until := U}, Now) -> U > Now;
overloaded(_, _Now) -> false.

serves(Models, Model) ->
    case maps:find(Model, Models) of
        {ok, #{status := ok}} -> true;
        _ -> false
    end.

capacity(#{models := unknown}, _Model) -> {1, 0};
capacity(#{models := Models}, Model) ->
    case maps:find(Model, Models) of
        {ok, #{instances := I, queue_depth := Q}} -> {max(I, 1), Q};
        error -> {1, 0}
    end.

%% @doc Compiles the `nodes' option (an atom, a glob pattern string or binary
%% with `*' and `?', or a list of these) into a matcher for {@link matches/2}.
-spec compile_patterns(term()) -> [node() | {re, term()}].
compile_patterns(P) when is_atom(P) -> [P];
compile_patterns(P) when is_binary(P) -> compile_patterns(binary_to_list(P));
compile_patterns([C | _] = P) when is_integer(C) ->
    case lists:any(fun(X) -> X =:= $* orelse X =:= $? end, P) of
        true ->
            Re = "^" ++ lists:flatmap(fun($*) -> ".*"; ($?) -> ".";
                                         (X) -> escape(X) end, P) ++ "$",
            {ok, MP} = re:compile(Re),
            [{re, MP}];
        false -> [list_to_atom(P)]
    end;
compile_patterns(L) when is_list(L) -> lists:flatmap(fun compile_patterns/1, L).

escape(X) ->
    case lists:member(X, "\\^$.|()[]{}+") of true -> [$\\, X]; false -> [X] end.

%% @doc Whether Node matches compiled patterns.
-spec matches(node(), [node() | {re, term()}]) -> boolean().
matches(Node, Patterns) ->
    lists:any(fun({re, MP}) -> re:run(atom_to_list(Node), MP, [{capture, none}]) =:= match;
                 (N) -> N =:= Node
              end, Patterns).

%% @doc Every known node with its state, load and breaker (for `hornbeam:nodes/0').
-spec info() -> [map()].
info() ->
    [#{node => N, state => S, models => Ms, configured => Conf,
       outstanding => outstanding(N), latency_ms => latency_ms(N),
       breaker => element(1, hornbeam_breaker:state(N)),
       overloaded => overloaded(I, now_ms()),
       inflight => maps:get(inflight, I, undefined)}
     || {N, #{state := S, models := Ms, configured := Conf} = I} <- lists:sort(known_nodes())].
