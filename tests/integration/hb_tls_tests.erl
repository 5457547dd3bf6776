%% TLS distribution: real `erl -proto_dist inet_tls` nodes against a daemon
%% serving TLS with mutual certificates (run_tls_integration.sh makes the
%% certificates and starts the daemon with verify_peer,
%% fail_if_no_peer_cert, handshake_timeout_ms 8000 and node_name_check off).
%%
%% Every client is a peer node (peer:start over standard_io, so the node
%% running EUnit needs no TLS itself) with its own ssl_dist_optfile:
%% HB_TLS_DIR/<name>.conf. Each refusal is checked the way an operator
%% sees it: the client gets pang, the daemon counts the outcome and logs a
%% line, and a good client is served meanwhile.
%%
%% Environment: HB_DAEMON_NODE, HB_DAEMON_PID, HB_COOKIE, HB_TLS_DIR,
%% HB_DAEMON_LOG, HB_RELOAD_CONFIG (a config to switch to before SIGHUP).
-module(hb_tls_tests).
-include_lib("eunit/include/eunit.hrl").
-include_lib("public_key/include/public_key.hrl").
-import(hb_test_lib, [daemon/0, cookie/0, start_peer/2, wait_until/2]).

%% Run on a TLS peer (peer:call/5).
-export([big_batch/3]).

-define(T(Fun), {atom_to_list(?FUNCTION_NAME), {timeout, 120, Fun}}).

%%---------------------------------------------------------------------------
%% Happy path

tls12_client_pings_and_calls_test_() ->
    ?T(fun() ->
        with_client("client", fun(P) ->
            D = daemon(),
            ?assertEqual(pong, peer:call(P, net_adm, ping, [D])),
            Health = peer:call(P, rpc, call, [D, health, check, [], 10000]),
            Me = peer:call(P, erlang, node, []),
            #{peer_tls := #{Me := #{version := V, cipher := C}}} = Health,
            ?assertEqual(<<"TLSv1.2">>, V),
            ?assert(byte_size(C) > 0),
            [E1, E2] = peer:call(P, rpc, call, [D, ml, batch_encode, [[<<"a">>, <<"b">>]], 30000]),
            ?assertEqual({256, 256}, {length(E1), length(E2)}),
            ?assertEqual(pong, peer:call(P, erpc, call, [D, health, ping, [], 10000]))
        end)
    end).

tls13_client_is_served_test_() ->
    ?T(fun() ->
        with_client("tls13", fun(P) ->
            D = daemon(),
            ?assertEqual(pong, peer:call(P, net_adm, ping, [D])),
            Me = peer:call(P, erlang, node, []),
            #{peer_tls := #{Me := #{version := V}}} =
                peer:call(P, rpc, call, [D, health, check, [], 10000]),
            ?assertEqual(<<"TLSv1.3">>, V)
        end)
    end).

%% An 8 MB argument (4,000 texts of 2,000 bytes): hundreds of 16 KB TLS
%% records in one distribution packet, and as many back. Built and counted
%% on the peer, so only the count crosses peer control. (50 MB took over
%% 100 s on a loaded 2-core VM under ASan; 8 MB spans as many record
%% boundaries as the test needs.)
large_argument_spans_many_records_test_() ->
    ?T(fun() ->
        with_client("client", fun(P) ->
            ?assertEqual(4000, peer:call(P, ?MODULE, big_batch, [daemon(), 4000, 2000], 110000))
        end)
    end).

%% Ticks go both ways inside TLS: an idle connection outlives a client's
%% net_ticktime of 4 s several times over.
idle_tls_connection_survives_net_ticktime_test_() ->
    ?T(fun() ->
        {ok, P, _} = start_peer(cookie(), tls_args("client") ++ ["-kernel", "net_ticktime", "4"]),
        try
            D = daemon(),
            ?assertEqual(pong, peer:call(P, net_adm, ping, [D])),
            Me = atom_to_list(peer:call(P, erlang, node, [])),
            timer:sleep(12000),
            ?assert(lists:member(D, peer:call(P, erlang, nodes, [hidden]))),
            ?assertEqual(0, count_log("peer '" ++ Me ++ "' disconnected")),
            ?assertEqual(pong, peer:call(P, rpc, call, [D, health, ping, [], 5000]))
        after
            peer:stop(P)
        end
    end).

%%---------------------------------------------------------------------------
%% Refusals

client_without_certificate_is_refused_test_() ->
    ?T(fun() -> refused("nocert", no_certificate) end).

client_from_another_ca_is_refused_test_() ->
    ?T(fun() -> refused("otherca", unknown_ca) end).

expired_client_certificate_is_refused_test_() ->
    ?T(fun() -> refused("expired", expired) end).

plain_tcp_node_gets_pang_test_() ->
    ?T(fun() ->
        Before = outcome(protocol_error),
        {ok, P, _} = start_peer(cookie(), []),
        try
            ?assertEqual(pang, peer:call(P, net_adm, ping, [daemon()]))
        after
            peer:stop(P)
        end,
        ?assert(wait_until(fun() -> outcome(protocol_error) > Before end, 10000))
    end).

%% Inside TLS the handshake's lengths have 4 bytes: a peer that declares a
%% huge handshake packet is closed before the daemon buffers it.
oversized_handshake_packet_inside_tls_is_closed_test_() ->
    ?T(fun() ->
        S = tls_connect(),
        Logged = count_log("handshake packet over"),
        ok = ssl:send(S, [<<16#4000000:32>>, binary:copy(<<0>>, 200000)]),
        %% Well before handshake_timeout_ms (8 s) would close it anyway.
        ?assertEqual({error, closed}, ssl:recv(S, 0, 4000)),
        ?assert(count_log("handshake packet over") > Logged),
        ssl:close(S)
    end).

%% TLS is fine but the cookie is not: refused by the distribution
%% handshake, the TLS outcome is ok.
wrong_cookie_inside_valid_tls_gets_pang_test_() ->
    ?T(fun() ->
        Failed = count_log("wrong cookie"),
        {ok, P, _} = start_peer("not_the_cookie", tls_args("client")),
        try
            ?assertEqual(pang, peer:call(P, net_adm, ping, [daemon()]))
        after
            peer:stop(P)
        end,
        ?assert(count_log("wrong cookie") > Failed)
    end).

%% Without node_name_check (the daemon's start configuration) a certificate
%% naming another host is fine, as with OTP's own server side.
name_mismatch_accepted_without_node_name_check_test_() ->
    ?T(fun() ->
        with_client("wrongname", fun(P) ->
            ?assertEqual(pong, peer:call(P, net_adm, ping, [daemon()]))
        end)
    end).

%% 100 raw sockets that each send half a ClientHello and stop: other
%% clients are served meanwhile, and the daemon drops them all at
%% handshake_timeout_ms.
stalled_tls_peers_do_not_block_others_test_() ->
    ?T(fun() ->
        with_client("client", fun(P) ->
            ok = stall(daemon(), 100, self()),
            %% The stalled sockets are all open now (handshake_timeout_ms
            %% is 8 s): a new TLS client is served regardless.
            ?assertEqual(pong, peer:call(P, net_adm, ping, [daemon()])),
            ?assertEqual(pong, peer:call(P, rpc, call, [daemon(), health, ping, []])),
            Closed = [receive {stalled, R, _} -> R after 20000 -> timeout end
                      || _ <- lists:seq(1, 100)],
            ?assertEqual(lists:duplicate(100, {error, closed}), Closed)
        end)
    end).

%%---------------------------------------------------------------------------
%% Reload (last: it changes the daemon's configuration)

reload_keeps_open_connection_and_applies_new_settings_test_() ->
    ?T(fun() ->
        with_client("client", fun(P) ->
            D = daemon(),
            ?assertEqual(pong, peer:call(P, net_adm, ping, [D])),
            ok = file:write_file(os:getenv("HB_TLS_DIR") ++ "/daemon.json",
                                 element(2, file:read_file(os:getenv("HB_RELOAD_CONFIG")))),
            ?assertEqual(<<"server">>, server_cn()),
            Reloads = count_log("reload: new TLS connections use"),
            _ = os:cmd("kill -HUP " ++ os:getenv("HB_DAEMON_PID")),
            ?assert(wait_until(fun() -> count_log("reload: new TLS connections use") > Reloads end,
                               10000)),
            %% The open connection keeps its session and is still served.
            ?assertEqual(pong, peer:call(P, rpc, call, [D, health, ping, [], 10000])),
            ?assert(lists:member(D, peer:call(P, erlang, nodes, [hidden]))),
            %% New connections get the new certificate (server2) ...
            ?assertEqual(<<"server2">>, server_cn()),
            with_client("client", fun(Q) ->
                ?assertEqual(pong, peer:call(Q, net_adm, ping, [D]))
            end),
            %% ... and node_name_check, now on.
            refused("wrongname", name_mismatch),
            ?assertEqual(pong, peer:call(P, rpc, call, [D, health, ping, [], 10000]))
        end)
    end).

%% Last: new files that would not start the daemon (an expired
%% certificate) are refused by the reload; the daemon keeps serving with
%% the ones it has.
reload_with_expired_certificate_keeps_the_old_one_test_() ->
    ?T(fun() ->
        Dir = os:getenv("HB_TLS_DIR"),
        {ok, Cfg} = file:read_file(Dir ++ "/daemon.json"),
        Expired = binary:replace(binary:replace(Cfg, <<"server2.pem">>, <<"expired.pem">>),
                                 <<"server2.key">>, <<"expired.key">>),
        ok = file:write_file(Dir ++ "/daemon.json", Expired),
        Kept = count_log("TLS settings kept as they were"),
        _ = os:cmd("kill -HUP " ++ os:getenv("HB_DAEMON_PID")),
        ?assert(wait_until(fun() -> count_log("TLS settings kept as they were") > Kept end, 10000)),
        ?assert(count_log("certfile " ++ Dir ++ "/expired.pem: certificate expired on") > 0),
        ?assertEqual(<<"server2">>, server_cn()),
        with_client("client", fun(P) ->
            ?assertEqual(pong, peer:call(P, net_adm, ping, [daemon()]))
        end)
    end).

%%---------------------------------------------------------------------------
%% Helpers

%% A TLS connection to the daemon's distribution port with the good client
%% certificate, from this node's own ssl (no distribution inside).
tls_connect() ->
    Dir = os:getenv("HB_TLS_DIR"),
    [Name, Host] = string:split(atom_to_list(daemon()), "@"),
    {port, Port, _} = erl_epmd:port_please(Name, Host),
    {ok, _} = application:ensure_all_started(ssl),
    {ok, S} = ssl:connect(Host, Port,
                          [binary, {active, false}, {verify, verify_peer},
                           {certfile, Dir ++ "/client.pem"}, {keyfile, Dir ++ "/client.key"},
                           {cacertfile, Dir ++ "/ca.pem"}], 10000),
    S.

%% The CN of the certificate the daemon presents to a new connection.
server_cn() ->
    S = tls_connect(),
    {ok, Der} = ssl:peercert(S),
    ssl:close(S),
    Cert = public_key:pkix_decode_cert(Der, otp),
    {rdnSequence, Rdns} = Cert#'OTPCertificate'.tbsCertificate#'OTPTBSCertificate'.subject,
    [CN] = [V || [#'AttributeTypeAndValue'{type = ?'id-at-commonName', value = V}] <- Rdns],
    case CN of
        {utf8String, B} -> B;
        {printableString, L} -> list_to_binary(L);
        B when is_binary(B) -> B
    end.

with_client(Conf, Fun) ->
    {ok, P, _} = start_peer(cookie(), tls_args(Conf)),
    try Fun(P) after peer:stop(P) end.

tls_args(Conf) ->
    ["-proto_dist", "inet_tls",
     "-ssl_dist_optfile", os:getenv("HB_TLS_DIR") ++ "/" ++ Conf ++ ".conf"].

%% A client with optfile Conf gets pang; the daemon counts Outcome, logs
%% it, and serves a good client all along.
refused(Conf, Outcome) ->
    Before = outcome(Outcome),
    Logged = count_log(atom_to_list(Outcome)),
    with_client(Conf, fun(P) ->
        ?assertEqual(pang, peer:call(P, net_adm, ping, [daemon()]))
    end),
    ?assert(wait_until(fun() -> outcome(Outcome) =:= Before + 1 end, 10000)),
    ?assert(count_log(atom_to_list(Outcome)) > Logged).

%% The daemon's count of TLS handshakes that ended with Outcome, read over
%% a good TLS client.
outcome(Outcome) ->
    with_client("client", fun(P) ->
        #{wire := #{tls_handshakes := M}} =
            peer:call(P, rpc, call, [daemon(), metrics, get_all, [], 10000]),
        maps:get(Outcome, M)
    end).

count_log(Text) ->
    {ok, Log} = file:read_file(os:getenv("HB_DAEMON_LOG")),
    length(binary:matches(Log, list_to_binary(Text))).

%% N sockets each send the first bytes of a TLS ClientHello and nothing
%% more; Report gets {stalled, Result, I} when the daemon drops one (or
%% after 20 s: Result {error, timeout}).
stall(Node, N, Report) ->
    [Name, Host] = string:split(atom_to_list(Node), "@"),
    {port, Port, _} = erl_epmd:port_please(Name, Host),
    Half = <<22, 3, 1, 0, 200, 1, 0, 0, 196, 3, 3>>,
    lists:foreach(
      fun(I) ->
          spawn(fun() ->
              {ok, S} = gen_tcp:connect(Host, Port, [binary, {active, false}]),
              ok = gen_tcp:send(S, Half),
              Report ! {stalled, gen_tcp:recv(S, 0, 20000), I}
          end)
      end, lists:seq(1, N)),
    ok.

big_batch(Node, N, Size) ->
    Texts = [binary:copy(<<($a + I rem 26)>>, Size) || I <- lists:seq(1, N)],
    length(rpc:call(Node, ml, batch_encode, [Texts], 100000)).
