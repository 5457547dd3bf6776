%% Helpers shared by the Erlang integration suites: the daemon under test,
%% second client nodes, polling with a deadline, and the daemon's own
%% health and metrics figures.
-module(hb_test_lib).
-export([daemon/0, node_env/1, cookie/0, start_peer/2, wait_until/2,
         inflight/1, metric/2]).

%% The daemon node, from HB_DAEMON_NODE (set by the runner scripts).
daemon() -> node_env("HB_DAEMON_NODE").

node_env(Var) ->
    case os:getenv(Var) of
        false -> error({missing_env, Var});
        V -> list_to_atom(V)
    end.

cookie() ->
    case os:getenv("HB_COOKIE") of
        false -> atom_to_list(erlang:get_cookie());
        C -> C
    end.

%% A second client node.  standard_io keeps peer control off the
%% distribution, so the peer may use another cookie or tick time.  The
%% peer's code path holds the calling module's directory, so its exported
%% helpers can run there with peer:call/4,5.
start_peer(Cookie, ExtraArgs) ->
    Name = "hbpeer_" ++ os:getpid() ++ "_" ++ integer_to_list(erlang:unique_integer([positive])),
    CodeDir = filename:dirname(code:which(?MODULE)),
    peer:start(#{name => list_to_atom(Name), connection => standard_io,
                 args => ["-hidden", "-pa", CodeDir, "-setcookie", Cookie | ExtraArgs]}).

%% Polls Pred every 100 ms until it returns true (false after TimeoutMs; an
%% exception counts as not yet).
wait_until(Pred, TimeoutMs) ->
    wait_until_(Pred, erlang:monotonic_time(millisecond) + TimeoutMs).

wait_until_(Pred, Deadline) ->
    %% 'catch Expr' is deprecated from OTP 29 on; the suites compile on 25 to 29.
    Ok = try Pred() of R -> R catch _:_ -> false end,
    case Ok of
        true -> true;
        _ ->
            case erlang:monotonic_time(millisecond) >= Deadline of
                true -> false;
                false -> timer:sleep(100), wait_until_(Pred, Deadline)
            end
    end.

inflight(Node) -> maps:get(inflight, rpc:call(Node, health, check, [], 5000)).

metric(Node, Key) -> maps:get(Key, rpc:call(Node, metrics, get_all, [], 5000)).
