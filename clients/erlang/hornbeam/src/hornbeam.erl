%% @doc The hornbeam client: one call that finds, balances, fails over and
%% splits across every hornbeamd GPU node.
%%
%% Every call runs in the caller's process: it reads the nodes' state from
%% ETS (written by the pollers, see {@link hornbeam_node}), picks a node by
%% power of two choices on live load ({@link hornbeam_balance}), sends the
%% request with `erpc:send_request', and on a refusal or a lost node tries
%% another one within the call's deadline.  No gen_server is on the call path.
%%
%% Options (a map or a proplist; Elixir keyword lists work):
%% <dl>
%% <dt>`model'</dt><dd>the model (default `default'); it selects the nodes
%% that serve it and the module called: `ml' for `default', the model's own
%% name otherwise (the daemon's `routes'), or `module'.</dd>
%% <dt>`module'</dt><dd>the Erlang module to call on the daemon.</dd>
%% <dt>`timeout'</dt><dd>ms, a deadline for the whole call, retries
%% included (default 30000).</dd>
%% <dt>`retries'</dt><dd>further attempts after the first, per part
%% (default 2).</dd>
%% <dt>`fallback'</dt><dd>a fun run locally when no node can serve (reasons
%% `no_nodes', `overloaded', `draining', `nodedown', `timeout',
%% `internal_error'): `fun() -> Value end' or `fun(Input) -> Value end'
%% with the text, texts or argument list; the call returns `{ok, Value}'.</dd>
%% <dt>`nodes'</dt><dd>restricts the call to nodes matching a name, a glob
%% pattern (`"gpu*@host"') or a list of these.</dd>
%% <dt>`hedge_after_ms'</dt><dd>when an idempotent request has no answer
%% after this long, the same request goes to a second node too; the first
%% answer wins and the other is cancelled.</dd>
%% <dt>`idempotent'</dt><dd>whether a request that may have run may run
%% again elsewhere (timeouts, lost nodes): true for the encode functions,
%% false for {@link call/4} unless given.</dd>
%% <dt>`attempt_timeout'</dt><dd>ms one attempt may take; default: half the
%% time left when the call is idempotent and has retries left (so a retry
%% fits), else all of it.</dd>
%% </dl>
%% Errors: `{error, Reason}' with Reason one of `no_nodes' (no node is up,
%% serves the model and allows calls), `overloaded' (every node tried was
%% full), `draining', `nodedown', `timeout' (the deadline passed), `badarg',
%% `undef', `{model_error, Kind, Message}', `{internal_error, What}',
%% `{exception, Reason}', `{exit, Reason}', `{throw, Value}',
%% `{fallback, Class, Reason}' (the fallback raised).  Only `nodedown',
%% `overloaded', `draining', `timeout' and `internal_error' are retried on
%% another node; `badarg', `undef' and `model_error' never are.
-module(hornbeam).
-export([encode/1, encode/2, encode_f32/1, encode_f32/2,
         batch_encode/1, batch_encode/2, batch_encode_f32/1, batch_encode_f32/2,
         call/4, nodes/0, cluster_health/0, cluster_health/1,
         cluster_metrics/0, cluster_metrics/1, add_nodes/1, attach/2, detach/1]).

-type text() :: binary() | string().
-type opts() :: map() | proplists:proplist().
-type result(T) :: {ok, T} | {error, hornbeam_errors:reason() | {fallback, atom(), term()}}.
-export_type([text/0, opts/0, result/1]).

-record(job, {id :: term(), payload :: term(), texts :: non_neg_integer(),
              prefer :: node() | undefined, tried = [] :: [node()],
              retries :: non_neg_integer(), last_error = no_nodes :: term(),
              hedged = false :: boolean()}).
-record(req, {id :: term(), job :: term(), node :: node(), t0 :: integer(),
              deadline :: integer(), hedge_at :: integer() | infinity}).

%%% API ----------------------------------------------------------------------

%% @equiv encode(Text, #{})
-spec encode(text()) -> result([float()]).
encode(Text) -> encode(Text, #{}).

%% @doc One embedding (`ml:encode/1' on the chosen node).
-spec encode(text(), opts()) -> result([float()]).
encode(Text, Opts) -> single(encode, Text, 1, Opts).

%% @equiv encode_f32(Text, #{})
-spec encode_f32(text()) -> result(binary()).
encode_f32(Text) -> encode_f32(Text, #{}).

%% @doc One embedding as a little-endian float32 binary.
-spec encode_f32(text(), opts()) -> result(binary()).
encode_f32(Text, Opts) -> single(encode_f32, Text, 1, Opts).

%% @equiv batch_encode(Texts, #{})
-spec batch_encode([text()]) -> result([[float()]]).
batch_encode(Texts) -> batch_encode(Texts, #{}).

%% @doc Embeddings of a list of texts, in order.  The list is cut across the
%% nodes in proportion to their capacity and speed (parts of at least
%% `min_split' texts), the parts are sent in parallel and reassembled in
%% order; a part that fails is retried on another node within the deadline.
-spec batch_encode([text()], opts()) -> result([[float()]]).
batch_encode(Texts, Opts) when is_list(Texts) -> batch(batch_encode, Texts, Opts).

%% @equiv batch_encode_f32(Texts, #{})
-spec batch_encode_f32([text()]) -> result([binary()]).
batch_encode_f32(Texts) -> batch_encode_f32(Texts, #{}).

%% @doc As {@link batch_encode/2}, each row a little-endian float32 binary.
-spec batch_encode_f32([text()], opts()) -> result([binary()]).
batch_encode_f32(Texts, Opts) when is_list(Texts) -> batch(batch_encode_f32, Texts, Opts).

%% @doc Any call `M:F(A...)' on a GPU node (a plugin's term functions,
%% `health:sleep/1', ...), routed, retried and fallen back as the encode
%% calls, but not idempotent unless `#{idempotent => true}'.  Without a
%% `model' option any node may serve it.
-spec call(module(), atom(), [term()], opts()) -> result(term()).
call(M, F, A, Opts0) when is_atom(M), is_atom(F), is_list(A) ->
    Opts = opts(Opts0, #{idempotent => false, module => M,
                         model => undefined}),
    Job = #job{id = 0, payload = A, texts = 0, retries = maps:get(retries, Opts)},
    run(Opts#{function => F, args => fun(Args) -> Args end, input => A}, [Job], single).

%% @doc The GPU nodes known, each with its state (`up', `down', `draining',
%% `degraded', `unknown' before the first poll), models (name => status,
%% instances, queue depth, busy instances), this client's outstanding calls
%% and mean latency, and its breaker (`closed', `open', `half_open').
-spec nodes() -> [map()].
nodes() -> hornbeam_state:info().

%% @equiv cluster_health(5000)
-spec cluster_health() -> #{node() => {ok, map()} | {error, term()}}.
cluster_health() -> cluster_health(5000).

%% @doc `health:check/0' of every known node, asked in parallel.
-spec cluster_health(timeout()) -> #{node() => {ok, map()} | {error, term()}}.
cluster_health(Timeout) -> multi(health, check, Timeout).

%% @equiv cluster_metrics(5000)
-spec cluster_metrics() -> #{node() => {ok, map()} | {error, term()}}.
cluster_metrics() -> cluster_metrics(5000).

%% @doc `metrics:get_all/0' of every known node, asked in parallel.
-spec cluster_metrics(timeout()) -> #{node() => {ok, map()} | {error, term()}}.
cluster_metrics(Timeout) -> multi(metrics, get_all, Timeout).

%% @doc Adds node names or glob patterns to discover at run time.
-spec add_nodes(node() | string() | [node() | string()]) -> ok.
add_nodes(Spec) -> hornbeam_registry:add_nodes(Spec).

%% @doc Attaches an event handler (see {@link hornbeam_events}).
-spec attach(term(), hornbeam_events:handler()) -> ok | {error, not_started}.
attach(Id, Fun) -> hornbeam_events:attach(Id, Fun).

%% @doc Detaches an event handler.
-spec detach(term()) -> ok.
detach(Id) -> hornbeam_events:detach(Id).

%%% Calls --------------------------------------------------------------------

single(F, Text, Texts, Opts0) ->
    Opts = opts(Opts0, #{idempotent => true}),
    Job = #job{id = 0, payload = Text, texts = Texts, retries = maps:get(retries, Opts)},
    run(Opts#{function => F, args => fun(T) -> [T] end, input => Text}, [Job], single).

batch(_F, [], _Opts) -> {ok, []};
batch(F, Texts, Opts0) ->
    Opts = opts(Opts0, #{idempotent => true}),
    Retries = maps:get(retries, Opts),
    MinSplit = maps:get(min_split, Opts),
    Cands = hornbeam_state:candidates(maps:get(model, Opts), filter(Opts), hornbeam_state:now_ms()),
    Jobs = case length(Texts) >= 2 * MinSplit andalso length(Cands) > 1 of
               true ->
                   Weights = [{N, 1 / hornbeam_balance:score(C)} || #{node := N} = C <- Cands],
                   [#job{id = Off, payload = Part, texts = length(Part), prefer = N,
                         retries = Retries}
                    || {N, Off, Part} <- hornbeam_balance:split(Texts, Weights, MinSplit)];
               false ->
                   [#job{id = 0, payload = Texts, texts = length(Texts), retries = Retries}]
           end,
    run(Opts#{function => F, args => fun(T) -> [T] end, input => Texts}, Jobs, parts).

opts(Opts, Defaults) when is_list(Opts) -> opts(maps:from_list(proplists:unfold(Opts)), Defaults);
opts(Opts, Defaults) when is_map(Opts) ->
    Base = #{model => default, timeout => hornbeam_state:env(default_timeout),
             retries => hornbeam_state:env(default_retries), fallback => undefined,
             hedge_after_ms => undefined, attempt_timeout => undefined,
             min_split => hornbeam_state:env(min_split)},
    O = maps:merge(maps:merge(Base, Defaults), Opts),
    Module = case maps:find(module, O) of
                 {ok, M} -> M;
                 error -> case maps:get(model, O) of default -> ml; Model -> Model end
             end,
    O#{module => Module}.

filter(#{nodes := Spec}) ->
    Pats = hornbeam_state:compile_patterns(Spec),
    [N || {N, _} <- hornbeam_state:known_nodes(), hornbeam_state:matches(N, Pats)];
filter(_) -> all.

%% Runs the jobs (one per part) to completion and assembles the answer.
run(Opts, Jobs, Shape) ->
    T0 = erlang:monotonic_time(),
    Texts = lists:sum([J#job.texts || J <- Jobs]),
    Meta = #{model => maps:get(model, Opts), module => maps:get(module, Opts),
             function => maps:get(function, Opts), texts => Texts, parts => length(Jobs)},
    hornbeam_events:emit([call, start], #{system_time => erlang:system_time(), texts => Texts}, Meta),
    Ctx = Opts#{deadline => hornbeam_state:now_ms() + maps:get(timeout, Opts),
                filter => filter(Opts), meta => Meta},
    S0 = #{ctx => Ctx, jobs => maps:from_list([{J#job.id, J} || J <- Jobs]),
           reqs => #{}, results => #{}, errors => #{}},
    S1 = lists:foldl(fun(J, S) -> dispatch(J#job.id, S) end, S0, Jobs),
    Result = assemble(loop(S1), Shape),
    try fallback(Result, Opts) of
        Final ->
            stop_event(T0, Meta, Final),
            Final
    catch Class:Reason:Stack ->
            hornbeam_events:emit([call, exception], duration(T0),
                                 Meta#{kind => Class, reason => Reason, stacktrace => Stack}),
            {error, {fallback, Class, Reason}}
    end.

stop_event(T0, Meta, Result) ->
    R = case Result of {ok, _} -> ok; {error, E} -> {error, E} end,
    hornbeam_events:emit([call, stop], duration(T0), Meta#{result => R}).

duration(T0) ->
    D = erlang:monotonic_time() - T0,
    #{duration => D, duration_ms => erlang:convert_time_unit(D, native, microsecond) / 1000}.

fallback({error, Reason} = E, #{fallback := Fun, input := Input}) when is_function(Fun) ->
    case hornbeam_errors:fallback_applies(Reason) of
        true when is_function(Fun, 0) -> {ok, Fun()};
        true when is_function(Fun, 1) -> {ok, Fun(Input)};
        _ -> E
    end;
fallback(Result, _Opts) -> Result.

assemble(#{jobs := Jobs, results := Results, errors := Errors}, Shape) ->
    case map_size(Errors) of
        0 when Shape =:= single -> {ok, maps:get(0, Results)};
        0 -> {ok, hornbeam_balance:reassemble(maps:to_list(Results))};
        _ ->
            %% The first failed part's reason, in text order.
            [{_, Reason} | _] = lists:keysort(1, maps:to_list(Errors)),
            _ = Jobs,
            {error, Reason}
    end.

%%% The request loop: erpc requests in flight, a collection to wait on ------

done(#{jobs := Jobs, results := R, errors := E}) ->
    map_size(R) + map_size(E) =:= map_size(Jobs).

loop(S) ->
    case done(S) of
        true -> abandon_all(S);
        false -> wait(S)
    end.

wait(#{reqs := Reqs, ctx := #{deadline := Deadline}} = S) ->
    Now = hornbeam_state:now_ms(),
    case map_size(Reqs) of
        0 ->
            %% Jobs left but nothing in flight: they could not be placed.
            loop(fail_unplaced(S));
        _ when Now >= Deadline ->
            loop(expire(S, timeout));
        _ ->
            Wake = lists:min([Deadline | [min(R#req.deadline, R#req.hedge_at)
                                          || R <- maps:values(Reqs)]]),
            Coll = maps:fold(fun(L, R, C) -> erpc:reqids_add(R#req.id, L, C) end,
                             erpc:reqids_new(), Reqs),
            try erpc:receive_response(Coll, max(0, Wake - Now), true) of
                {Value, Label, _} -> loop(answered(Label, Value, S));
                timeout -> loop(timers(S));
                no_request -> loop(fail_unplaced(S))
            catch Class:{Reason, Label, _} when is_map_key(Label, Reqs) ->
                    loop(refused(Label, Class, Reason, S));
                  error:{erpc, timeout} -> loop(timers(S))
            end
    end.

answered(Label, Value, #{reqs := Reqs} = S) ->
    #req{job = JobId, node = Node, t0 = T0} = maps:get(Label, Reqs),
    Ms = erlang:convert_time_unit(erlang:monotonic_time() - T0, native, microsecond) / 1000,
    hornbeam_state:end_call(Node, Ms),
    hornbeam_breaker:success(Node),
    attempt_event(S, JobId, Node, Ms, ok),
    S1 = S#{reqs := maps:remove(Label, Reqs)},
    case job_open(JobId, S1) of
        true -> abandon_job(JobId, S1#{results := maps:put(JobId, Value, maps:get(results, S1))});
        false -> S1
    end.

refused(Label, Class, Reason, #{reqs := Reqs, ctx := Ctx} = S) ->
    #req{job = JobId, node = Node, t0 = T0} = maps:get(Label, Reqs),
    hornbeam_state:end_call(Node, none),
    S1 = S#{reqs := maps:remove(Label, Reqs)},
    Ms = erlang:convert_time_unit(erlang:monotonic_time() - T0, native, microsecond) / 1000,
    case hornbeam_errors:classify(Class, Reason) of
        {fatal, Why} ->
            %% The node answered: it works; the call itself is wrong.
            hornbeam_breaker:success(Node),
            attempt_event(S, JobId, Node, Ms, {error, Why}),
            fail_job(JobId, Why, S1);
        {retry, Why, Effect} ->
            effect(Node, Effect, Why),
            attempt_event(S, JobId, Node, Ms, {error, Why}),
            case job_open(JobId, S1) andalso not job_in_flight(JobId, S1) of
                true -> retry(JobId, Node, Why, Ctx, S1);
                false -> S1
            end
    end.

effect(Node, down, Why) ->
    hornbeam_state:mark(Node, down, hornbeam_state:now_ms()),
    hornbeam_breaker:failure(Node, Why);
effect(Node, overloaded, _Why) -> hornbeam_state:mark(Node, overloaded, hornbeam_state:now_ms());
effect(Node, draining, _Why) -> hornbeam_state:mark(Node, draining, hornbeam_state:now_ms());
effect(Node, failure, Why) -> hornbeam_breaker:failure(Node, Why).

retry(JobId, Node, Why, #{idempotent := Idem, deadline := Deadline, meta := Meta}, S) ->
    Job = maps:get(JobId, maps:get(jobs, S)),
    Job1 = Job#job{last_error = Why, tried = [Node | Job#job.tried]},
    S1 = put_job(Job1, S),
    Allowed = Idem orelse hornbeam_errors:never_ran(Why),
    case Allowed andalso Job#job.retries > 0 andalso hornbeam_state:now_ms() < Deadline of
        true ->
            hornbeam_events:emit([call, retry], #{texts => Job#job.texts},
                                 Meta#{node => Node, reason => Why,
                                       attempt => length(Job1#job.tried) + 1}),
            dispatch(JobId, put_job(Job1#job{retries = Job#job.retries - 1, prefer = undefined}, S1));
        false ->
            fail_job(JobId, Why, S1)
    end.

%% Attempt deadlines and hedges that are due.
timers(#{reqs := Reqs} = S) ->
    Now = hornbeam_state:now_ms(),
    lists:foldl(
      fun({Label, #req{deadline = D}}, Acc) when D =< Now ->
              case maps:find(Label, maps:get(reqs, Acc)) of
                  {ok, R} -> attempt_timed_out(Label, R, Acc);
                  error -> Acc
              end;
         ({Label, #req{hedge_at = H, job = JobId} = R}, Acc) when H =< Now ->
              %% One hedge per request: it is not due again.
              Acc1 = Acc#{reqs := maps:put(Label, R#req{hedge_at = infinity}, maps:get(reqs, Acc))},
              hedge(JobId, Acc1);
         (_, Acc) -> Acc
      end, S, lists:sort(maps:to_list(Reqs))).

attempt_timed_out(Label, #req{id = Id, job = JobId, node = Node, t0 = T0}, #{ctx := Ctx} = S) ->
    abandon(Id),
    hornbeam_state:end_call(Node, none),
    hornbeam_breaker:failure(Node, timeout),
    Ms = erlang:convert_time_unit(erlang:monotonic_time() - T0, native, microsecond) / 1000,
    attempt_event(S, JobId, Node, Ms, {error, timeout}),
    S1 = S#{reqs := maps:remove(Label, maps:get(reqs, S))},
    case job_open(JobId, S1) andalso not job_in_flight(JobId, S1) of
        true -> retry(JobId, Node, timeout, Ctx, S1);
        false -> S1
    end.

hedge(JobId, #{jobs := Jobs} = S) ->
    Job = maps:get(JobId, Jobs),
    case Job#job.hedged orelse not job_open(JobId, S) of
        true -> S;
        false ->
            InFlight = [R#req.node || R <- maps:values(maps:get(reqs, S)), R#req.job =:= JobId],
            Job1 = Job#job{hedged = true, tried = InFlight ++ Job#job.tried, prefer = undefined},
            S1 = put_job(Job1, S),
            %% Only a node not already working on it.
            send_somewhere(Job1, S1, fun(_Reason) -> S1 end)
    end.

%% Every request still in flight is abandoned; open jobs fail with Why.
expire(#{reqs := Reqs} = S, Why) ->
    maps:foreach(fun(_, #req{id = Id, node = Node}) ->
                         abandon(Id),
                         hornbeam_state:end_call(Node, none)
                 end, Reqs),
    S1 = S#{reqs := #{}},
    lists:foldl(fun(JobId, Acc) -> fail_job(JobId, Why, Acc) end, S1, open_jobs(S1)).

fail_unplaced(S) ->
    lists:foldl(fun(JobId, Acc) ->
                        Job = maps:get(JobId, maps:get(jobs, Acc)),
                        fail_job(JobId, Job#job.last_error, Acc)
                end, S, open_jobs(S)).

abandon_all(S) -> expire(S, cancelled).

abandon_job(JobId, #{reqs := Reqs} = S) ->
    Mine = maps:filter(fun(_, R) -> R#req.job =:= JobId end, Reqs),
    maps:foreach(fun(_, #req{id = Id, node = Node}) ->
                         abandon(Id),
                         hornbeam_state:end_call(Node, none)
                 end, Mine),
    S#{reqs := maps:without(maps:keys(Mine), Reqs)}.

%% A failed part fails the whole call: the other parts are cancelled.
fail_job(JobId, Why, S) ->
    S1 = abandon_job(JobId, S),
    S2 = S1#{errors := maps:put(JobId, Why, maps:get(errors, S1))},
    case map_size(maps:get(jobs, S2)) > 1 of
        true -> expire(S2, Why);
        false -> S2
    end.

abandon(ReqId) ->
    %% A zero-timeout receive abandons the request: erpc demonitors, and the
    %% daemon cancels queued work when told so.
    try erpc:receive_response(ReqId, 0) catch _:_ -> ok end,
    ok.

job_open(JobId, #{results := R, errors := E}) ->
    not maps:is_key(JobId, R) andalso not maps:is_key(JobId, E).

job_in_flight(JobId, #{reqs := Reqs}) ->
    lists:any(fun(R) -> R#req.job =:= JobId end, maps:values(Reqs)).

open_jobs(#{jobs := Jobs} = S) -> [Id || Id <- lists:sort(maps:keys(Jobs)), job_open(Id, S)].

put_job(Job, #{jobs := Jobs} = S) -> S#{jobs := maps:put(Job#job.id, Job, Jobs)}.

%%% Placing a request ----------------------------------------------------------

dispatch(JobId, S) ->
    Job = maps:get(JobId, maps:get(jobs, S)),
    send_somewhere(Job, S, fun(Reason) -> fail_job(JobId, Reason, S) end).

send_somewhere(Job, #{ctx := Ctx} = S, NoNode) ->
    Now = hornbeam_state:now_ms(),
    Cands = hornbeam_state:candidates(maps:get(model, Ctx), maps:get(filter, Ctx), Now),
    Fresh = [C || #{node := N} = C <- Cands, not lists:member(N, Job#job.tried)],
    Pool = case {Job#job.prefer, Fresh} of
               {undefined, []} when Job#job.hedged -> [];
               {undefined, []} -> Cands;
               {undefined, _} -> Fresh;
               {P, _} -> case [C || #{node := N} = C <- Fresh, N =:= P] of
                             [] -> Fresh;
                             Pref -> Pref
                         end
           end,
    case claim(Pool, Now) of
        none -> NoNode(case Job#job.last_error of no_nodes -> no_nodes; E -> E end);
        Node -> send(Node, Job, Now, S)
    end.

claim(Pool, Now) ->
    case hornbeam_balance:pick(Pool, fun rand:uniform/1) of
        none -> none;
        #{node := Node} = C ->
            case hornbeam_breaker:claim(Node, Now) of
                false -> claim(lists:delete(C, Pool), Now);
                _ -> Node
            end
    end.

send(Node, Job, Now, #{ctx := Ctx, reqs := Reqs} = S) ->
    #{module := M, function := F, args := Args, deadline := Deadline} = Ctx,
    ReqId = erpc:send_request(Node, M, F, Args(Job#job.payload)),
    hornbeam_state:begin_call(Node),
    Left = Deadline - Now,
    Attempt = case maps:get(attempt_timeout, Ctx) of
                  undefined when map_get(idempotent, Ctx), Job#job.retries > 0 -> max(1, Left div 2);
                  undefined -> Left;
                  T -> min(T, Left)
              end,
    HedgeAt = case maps:get(hedge_after_ms, Ctx) of
                  H when is_integer(H), map_get(idempotent, Ctx), not Job#job.hedged -> Now + H;
                  _ -> infinity
              end,
    Label = {hb, Job#job.id, Node, make_ref()},
    R = #req{id = ReqId, job = Job#job.id, node = Node, t0 = erlang:monotonic_time(),
             deadline = Now + Attempt, hedge_at = HedgeAt},
    S#{reqs := Reqs#{Label => R}}.

attempt_event(#{ctx := #{meta := Meta}, jobs := Jobs}, JobId, Node, Ms, Result) ->
    Texts = case maps:find(JobId, Jobs) of {ok, J} -> J#job.texts; error -> 0 end,
    hornbeam_events:emit([attempt, stop], #{duration_ms => Ms, texts => Texts},
                         Meta#{node => Node, result => Result, part => JobId}).

%%% Cluster-wide health and metrics ------------------------------------------

multi(M, F, Timeout) ->
    Nodes = [N || {N, _} <- hornbeam_state:known_nodes()],
    Results = erpc:multicall(Nodes, M, F, [], Timeout),
    maps:from_list(
      lists:zipwith(fun(N, {ok, V}) -> {N, {ok, V}};
                       (N, {Class, Reason}) ->
                            {N, {error, element(2, hornbeam_errors:classify(Class, Reason))}}
                    end, Nodes, Results)).
