%% @doc A circuit breaker per node, kept in the public ETS table
%% `hornbeam_breakers' so that every caller reads and updates it in its own
%% process.  States: `{closed, Failures}', `{open, UntilMs}' (no calls until
%% UntilMs), `{half_open, SinceMs}' (exactly one probe call is out).
%%
%% The transitions are the pure {@link transition/4}; the ETS operations
%% apply them with compare-and-swap (`ets:select_replace/2' on the exact old
%% row), so concurrent callers never lose an update and only one caller wins
%% the half-open probe.
-module(hornbeam_breaker).
-export([transition/4, new_table/0, state/1, allows/2, claim/2, success/1, failure/2,
         reset/1, forget/1]).

-define(TAB, hornbeam_breakers).

-type state() :: {closed, non_neg_integer()} | {open, integer()} | {half_open, integer()}.
-type event() :: success | failure | claim.
-type config() :: #{threshold := pos_integer(), open_ms := non_neg_integer()}.
-type effect() :: opened | closed | probe | denied.
-export_type([state/0, event/0, config/0]).

%% @doc The breaker's rules. `claim' asks for permission to send a call at
%% `Now' (ms): a closed breaker allows, an open one whose time is up turns
%% half-open and allows this one probe (effect `probe'), anything else is
%% `denied'.  A half-open breaker whose probe has not answered within the
%% open time allows a new probe.  `success' closes; `failure' counts up to
%% the threshold, then opens (effect `opened'); a failed probe reopens.
-spec transition(state(), event(), integer(), config()) -> {state(), [effect()]}.
transition({closed, _} = S, claim, _Now, _Cfg) -> {S, []};
transition({open, Until}, claim, Now, _Cfg) when Now >= Until -> {{half_open, Now}, [probe]};
transition({open, _} = S, claim, _Now, _Cfg) -> {S, [denied]};
transition({half_open, Since}, claim, Now, #{open_ms := Open}) when Now - Since >= Open ->
    {{half_open, Now}, [probe]};
transition({half_open, _} = S, claim, _Now, _Cfg) -> {S, [denied]};
transition({closed, 0} = S, success, _Now, _Cfg) -> {S, []};
transition({closed, _}, success, _Now, _Cfg) -> {{closed, 0}, []};
transition(_, success, _Now, _Cfg) -> {{closed, 0}, [closed]};
transition({closed, F}, failure, Now, #{threshold := T, open_ms := Open}) when F + 1 >= T ->
    {{open, Now + Open}, [opened]};
transition({closed, F}, failure, _Now, _Cfg) -> {{closed, F + 1}, []};
transition({half_open, _}, failure, Now, #{open_ms := Open}) -> {{open, Now + Open}, [opened]};
transition({open, _} = S, failure, _Now, _Cfg) -> {S, []}.

%% @doc Creates the table (called by the registry, its owner).
-spec new_table() -> ok.
new_table() ->
    ?TAB = ets:new(?TAB, [named_table, public, set, {read_concurrency, true},
                          {write_concurrency, true}]),
    ok.

%% @doc The node's breaker state (closed when never seen).
-spec state(node()) -> state().
state(Node) ->
    try ets:lookup(?TAB, Node) of
        [{_, S}] -> S;
        [] -> {closed, 0}
    catch error:badarg -> {closed, 0}
    end.

%% @doc Whether a claim at Now would be allowed, without claiming.
-spec allows(node(), integer()) -> boolean().
allows(Node, Now) ->
    {_, Effects} = transition(state(Node), claim, Now, config()),
    not lists:member(denied, Effects).

%% @doc Claims permission to call Node: `true' (closed), `probe' (this caller
%% is the half-open probe) or `false'.
-spec claim(node(), integer()) -> true | probe | false.
claim(Node, Now) ->
    case apply_event(Node, claim, Now) of
        [] -> true;
        [probe] -> probe;
        [denied] -> false
    end.

%% @doc Records a successful call; emits `[hornbeam, breaker, close]' when it
%% closes the breaker.
-spec success(node()) -> ok.
success(Node) ->
    case state(Node) of
        {closed, 0} -> ok;                       % the common case: no write
        _ -> effects(Node, apply_event(Node, success, now_ms()))
    end.

%% @doc Records a failed call (node down, timeout, internal error).
-spec failure(node(), term()) -> ok.
failure(Node, Reason) ->
    effects(Node, apply_event(Node, failure, now_ms()), Reason).

%% @doc Closes the breaker (a node that came back and answered a health check
%% while the breaker was open stays open until its probe; this is for tests
%% and operators).
-spec reset(node()) -> ok.
reset(Node) -> catch ets:insert(?TAB, {Node, {closed, 0}}), ok.

%% @doc Drops the node's row.
-spec forget(node()) -> ok.
forget(Node) -> catch ets:delete(?TAB, Node), ok.

apply_event(Node, Event, Now) ->
    Old = state(Node),
    {New, Effects} = transition(Old, Event, Now, config()),
    case New =:= Old orelse cas(Node, Old, New) of
        true -> Effects;
        false -> apply_event(Node, Event, Now)   % lost a race: decide again
    end.

cas(Node, Old, New) ->
    try
        case ets:lookup(?TAB, Node) of
            [] when Old =:= {closed, 0} -> ets:insert_new(?TAB, {Node, New});
            [] -> false;
            [_] -> ets:select_replace(?TAB, [{{Node, Old}, [], [{const, {Node, New}}]}]) =:= 1
        end
    catch error:badarg -> true                   % no table: the application is stopping
    end.

effects(Node, Effects) -> effects(Node, Effects, undefined).
effects(Node, Effects, Reason) ->
    lists:foreach(
      fun(opened) -> hornbeam_events:emit([breaker, open], #{}, #{node => Node, reason => Reason});
         (closed) -> hornbeam_events:emit([breaker, close], #{}, #{node => Node});
         (_) -> ok
      end, Effects).

config() ->
    #{threshold => hornbeam_state:env(breaker_threshold), open_ms => hornbeam_state:env(breaker_open_ms)}.

now_ms() -> erlang:monotonic_time(millisecond).
