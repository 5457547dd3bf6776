%% @doc Events.  Debian packages no `telemetry', so every event goes
%% <ol>
%% <li>to the handlers attached with {@link attach/2} (a fun of
%%     `(EventName, Measurements, Metadata)', called in the process that
%%     emits, as telemetry does; a handler that raises is detached and
%%     logged);</li>
%% <li>to `telemetry:execute([hornbeam | EventName], ...)' when a
%%     `telemetry' application is on the code path;</li>
%% <li>to `logger' (debug level for calls, notice for retries and breaker
%%     changes) with the event's metadata as logger metadata.</li>
%% </ol>
%% Event names (with `hornbeam' in front for telemetry):
%% `[call, start]', `[call, stop]' (also for `{error, _}' results, metadata
%% `result'), `[call, exception]' (an exception escaped, e.g. from a
%% fallback), `[attempt, stop]' (one request to one node, metadata `node',
%% `result'), `[call, retry]', `[breaker, open]', `[breaker, close]',
%% `[node, up]', `[node, down]', `[node, draining]'.  Measurements:
%% `duration' (native units) and `duration_ms' on stop events, `texts'
%% where there are texts.
-module(hornbeam_events).
-include_lib("kernel/include/logger.hrl").
-export([new_table/0, attach/2, detach/1, emit/3]).

-define(TAB, hornbeam_handlers).

-type event_name() :: [atom()].
-type handler() :: fun((event_name(), map(), map()) -> term()).
-export_type([event_name/0, handler/0]).

%% @doc Creates the handler table (called by the registry).
-spec new_table() -> ok.
new_table() ->
    ?TAB = ets:new(?TAB, [named_table, public, set, {read_concurrency, true}]),
    ok.

%% @doc Attaches a handler under Id (replacing one with the same Id).
-spec attach(term(), handler()) -> ok | {error, not_started}.
attach(Id, Fun) when is_function(Fun, 3) ->
    try ets:insert(?TAB, {Id, Fun}), ok
    catch error:badarg -> {error, not_started}
    end.

%% @doc Detaches the handler with this Id.
-spec detach(term()) -> ok.
detach(Id) -> catch ets:delete(?TAB, Id), ok.

%% @doc Emits an event to the handlers, telemetry and logger.
-spec emit(event_name(), map(), map()) -> ok.
emit(Name, Measurements, Meta) ->
    Handlers = try ets:tab2list(?TAB) catch error:badarg -> [] end,
    lists:foreach(
      fun({Id, Fun}) ->
              try Fun(Name, Measurements, Meta)
              catch C:R ->
                      detach(Id),
                      ?LOG_WARNING("hornbeam event handler ~p detached: ~p:~p", [Id, C, R])
              end
      end, Handlers),
    telemetry(Name, Measurements, Meta),
    log(Name, Measurements, Meta).

telemetry(Name, Measurements, Meta) ->
    case persistent_term:get({hornbeam, telemetry}, false) of
        true -> catch telemetry:execute([hornbeam | Name], Measurements, Meta), ok;
        false -> ok
    end.

log([breaker, _] = Name, M, Meta) -> log_at(notice, Name, M, Meta);
log([call, retry] = Name, M, Meta) -> log_at(notice, Name, M, Meta);
log([node, _] = Name, M, Meta) -> log_at(notice, Name, M, Meta);
log(Name, M, Meta) -> log_at(debug, Name, M, Meta).

log_at(Level, Name, M, Meta) ->
    ?LOG(Level, "hornbeam ~w ~0p", [Name, maps:merge(M, maps:without([fallback], Meta))],
         Meta#{hornbeam_event => Name}).
