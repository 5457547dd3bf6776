%% @doc One poller per GPU node: asks `health:check/0' every
%% `poll_interval_ms' (at most a few per second) and writes the node's
%% state, models, capacity and queue depths into `hornbeam_nodes'.  A node
%% that cannot be reached is `down' and polled (reconnected) with
%% exponential back-off from `reconnect_min_ms' to `reconnect_max_ms'; a
%% draining daemon refuses health checks with `{hornbeamd, draining}', which
%% makes it `draining'.  A node that is not configured by name and stays
%% down for `forget_after_ms' is forgotten.
-module(hornbeam_node).
-behaviour(gen_server).
-export([start_link/2, node_down/1, poll_now/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-record(st, {node :: node(), configured :: boolean(), backoff :: non_neg_integer(),
             timer :: reference() | undefined}).

-spec start_link(node(), boolean()) -> {ok, pid()}.
start_link(Node, Configured) -> gen_server:start_link(?MODULE, {Node, Configured}, []).

%% @doc The registry saw the node's connection go: mark it down at once.
-spec node_down(node()) -> ok.
node_down(Node) -> hornbeam_state:mark(Node, down, hornbeam_state:now_ms()).

%% @doc Polls the node now (tests use it to skip waiting for the interval).
-spec poll_now(pid()) -> ok.
poll_now(Pid) -> Pid ! poll, ok.

-spec init({node(), boolean()}) -> {ok, #st{}}.
init({Node, Configured}) ->
    Now = hornbeam_state:now_ms(),
    case hornbeam_state:node_get(Node) of
        undefined ->
            hornbeam_state:node_put(Node, #{state => unknown, models => unknown,
                                            configured => Configured, since => Now});
        _ -> ok
    end,
    self() ! poll,
    {ok, #st{node = Node, configured = Configured, backoff = 0}}.

-spec handle_call(term(), gen_server:from(), #st{}) -> {reply, ok, #st{}}.
handle_call(_Req, _From, St) -> {reply, ok, St}.

-spec handle_cast(term(), #st{}) -> {noreply, #st{}}.
handle_cast(_Msg, St) -> {noreply, St}.

-spec handle_info(term(), #st{}) -> {noreply, #st{}} | {stop, term(), #st{}}.
handle_info(poll, #st{node = Node} = St) ->
    cancel(St#st.timer),
    Timeout = hornbeam_state:env(poll_timeout_ms),
    Result = try {ok, erpc:call(Node, health, check, [], Timeout)}
             catch Class:Reason -> {Class, Reason}
             end,
    handle_result(Result, St);
handle_info(_Other, St) ->
    {noreply, St}.

handle_result({ok, #{status := Status} = Health}, St) ->
    State = case Status of ok -> up; draining -> draining; degraded -> degraded; _ -> degraded end,
    update(St#st.node, State, #{models => models(maps:get(models, Health, [])),
                                inflight => maps:get(inflight, Health, 0)}),
    schedule(St#st{backoff = 0}, hornbeam_state:env(poll_interval_ms));
handle_result({exit, {exception, {hornbeamd, draining}}}, St) ->
    update(St#st.node, draining, #{}),
    schedule(St#st{backoff = 0}, hornbeam_state:env(poll_interval_ms));
handle_result({error, {exception, undef, _}}, #st{configured = false} = St) ->
    hornbeam_registry:not_hornbeam(St#st.node),
    hornbeam_state:node_delete(St#st.node),
    {stop, {shutdown, {forget, St#st.node}}, St};
handle_result({error, {erpc, noconnection}}, St) ->
    down(St);
handle_result(_Other, St) ->
    %% Timeouts, system_limit, anything else: unreachable for now.
    down(St).

down(#st{node = Node} = St) ->
    Now = hornbeam_state:now_ms(),
    update(Node, down, #{}),
    Info = hornbeam_state:node_get(Node),
    case not St#st.configured andalso Info =/= undefined
        andalso Now - maps:get(since, Info) >= hornbeam_state:env(forget_after_ms) of
        true ->
            hornbeam_state:node_delete(Node),
            {stop, {shutdown, {forget, Node}}, St};
        false ->
            Min = hornbeam_state:env(reconnect_min_ms),
            Backoff = min(hornbeam_state:env(reconnect_max_ms), max(Min, St#st.backoff * 2)),
            schedule(St#st{backoff = Backoff}, Backoff)
    end.

update(Node, State, Fields) ->
    Now = hornbeam_state:now_ms(),
    Old = case hornbeam_state:node_get(Node) of
              undefined -> #{state => unknown, models => unknown, configured => false, since => Now};
              I -> I
          end,
    OldState = maps:get(state, Old),
    Since = case OldState of State -> maps:get(since, Old); _ -> Now end,
    hornbeam_state:node_put(Node, maps:merge(Old, Fields#{state => State, since => Since})),
    case {OldState, State} of
        {S, S} -> ok;
        {_, up} -> hornbeam_events:emit([node, up], #{}, #{node => Node});
        {_, down} when OldState =/= unknown -> hornbeam_events:emit([node, down], #{}, #{node => Node});
        {_, draining} -> hornbeam_events:emit([node, draining], #{}, #{node => Node});
        _ -> ok
    end.

models(List) when is_list(List) ->
    maps:from_list(
      [{Name, #{status => maps:get(status, M, ok), instances => maps:get(instances, M, 1),
                queue_depth => maps:get(queue_depth, M, 0),
                busy_instances => maps:get(busy_instances, M, 0)}}
       || #{name := Name} = M <- List]);
models(_) -> #{}.

schedule(St, Ms) ->
    {noreply, St#st{timer = erlang:send_after(Ms, self(), poll)}}.

cancel(undefined) -> ok;
cancel(Ref) -> erlang:cancel_timer(Ref), ok.
