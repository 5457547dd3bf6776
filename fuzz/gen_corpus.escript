#!/usr/bin/env escript
%% -*- erlang -*-
%%! -sname hb_seedgen -hidden
%%
%% Regenerates the binary seed corpora of fuzz/corpus/ from a real OTP node:
%% control packets and request inputs are term_to_binary of real pids,
%% references, aliases, ports and funs; handshake streams are built from the
%% OTP 23+ format. Config seeds are plain files, kept by hand.
%%
%%   fuzz/gen_corpus.escript fuzz/corpus
%%
%% Needs epmd (started by -sname). The formats are described in
%% fuzz/fuzz_bodies.h.

-mode(compile).

-define(COOKIE, "FUZZCOOKIE").        % kHsCookie in handshake_body.cc
-define(CHALLENGE, 16#5eed1234).      % kHsChallenge

main([Out]) ->
    Written = control(filename:join(Out, "control")) ++
              request(filename:join(Out, "request")) ++
              handshake(filename:join(Out, "handshake")),
    io:format("wrote ~p seed files~n", [length(Written)]);
main(_) ->
    io:format(standard_error, "usage: gen_corpus.escript CORPUS_DIR~n", []),
    halt(2).

write(Dir, Name, Bytes) ->
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    ok = file:write_file(filename:join(Dir, Name), Bytes),
    Name.

%% minor_version 2: UTF-8 atom tags, as the distribution of an OTP 25 node
%% (DFLAG_UTF8_ATOMS) sends them; plain term_to_binary/1 would use ATOM_EXT.
t2b(T) -> term_to_binary(T, [{minor_version, 2}]).
frame4(B) -> <<(byte_size(B)):32, B/binary>>.
frame2(B) -> <<(byte_size(B)):16, B/binary>>.
packet(Control) -> frame4(<<$p, (t2b(Control))/binary>>).
packet(Control, Msg) -> frame4(<<$p, (t2b(Control))/binary, (t2b(Msg))/binary>>).

%% What a hornbeamd pid looks like to the peer (node gpu@host, creation 42 in
%% the harness); built by hand since it is not a pid of this node.
hb_pid(N) ->
    Node = <<"gpu@host">>,
    binary_to_term(<<131, 88, 119, (byte_size(Node)), Node/binary, N:32, 0:32, 42:32>>).

%% A pid and a reference of the harness's peer (client@host, creation 7): the
%% request harness serves only spawn requests from its peer's pids.
peer_pid(N) ->
    Node = <<"client@host">>,
    binary_to_term(<<131, 88, 119, (byte_size(Node)), Node/binary, N:32, 0:32, 7:32>>).
peer_ref(N) ->
    Node = <<"client@host">>,
    binary_to_term(<<131, 90, 3:16, 119, (byte_size(Node)), Node/binary, 7:32, N:32, 1:32, 2:32>>).

%% A variety of every term kind the decoder handles.
all_types() ->
    {ok, Port} = {ok, hd(erlang:ports())},
    [1, 255, 256, -1, 1 bsl 31, -(1 bsl 31), 1 bsl 40, 1 bsl 63, 1 bsl 64, -(1 bsl 100),
     1.5, -0.0, 1.0e300, atom, 'quoted atom', 'ünïcödé', '', <<>>, <<"bin">>,
     <<1:3>>, <<255, 1:7>>, "string", lists:duplicate(300, $a), lists:seq(250, 260),
     [1 | 2], [a, b | c], {}, {a, {b, {c, {d}}}}, #{}, #{a => 1, <<"k">> => [x], {t} => #{}},
     self(), make_ref(), alias(), Port, fun erlang:self/0, fun(X) -> {X, self()} end,
     list_to_tuple(lists:seq(1, 300)), <<"é"/utf8, "日本"/utf8>>].

deep(0) -> leaf;
deep(N) -> {deep(N - 1)}.

deep_list(0) -> [];
deep_list(N) -> [deep_list(N - 1)].

%% ---- control packets ------------------------------------------------------

control(Dir) ->
    Self = self(),
    GL = group_leader(),
    Peer = spawn(fun() -> receive stop -> ok end end),
    Hb = hb_pid(7),
    ReqId = make_ref(),
    Ref = make_ref(),
    Alias = alias(),
    Token = {0, Self, 42, 7, 1},  % a seq_trace token shape
    Call = fun(M, F, A) -> [Ref, M, F, A] end,
    ErpcCall = {erpc, execute_call, 4},
    Tag = [alias | Alias],
    Seeds =
        [{"spawn_request_erpc_ping",
          packet({29, ReqId, Self, GL, ErpcCall, [monitor]}, Call(health, ping, []))},
         {"spawn_request_erpc_sleep",
          packet({29, ReqId, Self, GL, ErpcCall, [monitor]}, Call(health, sleep, [10]))},
         {"spawn_request_erpc_check_link",
          packet({29, ReqId, Self, GL, ErpcCall, [link, {monitor, [{tag, t}]}]},
                 Call(health, check, []))},
         {"spawn_request_erpc_embed_text",
          packet({29, ReqId, Self, GL, ErpcCall, [monitor]},
                 Call(ml, embed, [[<<"héllo wörld"/utf8>>, "charlist ü"]]))},
         {"spawn_request_tt",
          packet({30, ReqId, Self, GL, ErpcCall, [monitor], Token}, Call(health, ping, []))},
         {"spawn_request_erpc_cast",
          packet({29, ReqId, Self, GL, {erpc, execute_cast, 3}, []}, [health, ping, []])},
         {"spawn_request_plain",
          packet({29, ReqId, Self, GL, {health, check, 0}, [link]}, [])},
         {"reg_send_is_auth",
          packet({6, Self, '', net_kernel}, {'$gen_call', {Self, Tag}, {is_auth, node()}})},
         {"reg_send_rex_call",
          packet({6, Self, '', rex},
                 {'$gen_call', {Self, Tag}, {call, health, ping, [], GL}})},
         {"reg_send_rex_call_ref_tag",
          packet({6, Self, '', rex},
                 {'$gen_call', {Self, Ref}, {block_call, metrics, get_all, [], GL}})},
         {"reg_send_rex_cast",
          packet({6, Self, '', rex}, {'$gen_cast', {cast, health, ping, [], GL}})},
         {"reg_send_rex_legacy",
          packet({6, Self, '', rex}, {Self, {call, health, ping, [], GL}})},
         {"reg_send_tt",
          packet({16, Self, '', rex, Token},
                 {'$gen_call', {Self, Tag}, {call, health, ping, [], GL}})},
         {"reg_send_unknown_name", packet({6, Self, '', nobody_here}, hello)},
         {"monitor_p", packet({19, Self, Hb, Ref})},
         {"monitor_p_name", packet({19, Self, rex, Ref})},
         {"demonitor_p", packet({20, Self, Hb, Ref})},
         {"demonitor_p_rex", packet({20, Self, rex, Ref})},
         {"monitor_p_exit", packet({21, Peer, Self, Ref, noproc})},
         {"payload_monitor_p_exit", packet({28, Peer, Self, Ref}, {shutdown, Self})},
         {"link", packet({1, Self, Hb})},
         {"unlink", packet({4, Self, Hb})},
         {"unlink_id", packet({35, 17, Self, Hb})},
         {"unlink_id_ack", packet({36, 17, Self, Hb})},
         {"group_leader", packet({7, Self, Hb})},
         {"exit", packet({3, Self, Hb, normal})},
         {"exit_tt", packet({13, Self, Hb, Token, kill})},
         {"exit2", packet({8, Self, Hb, kill})},
         {"exit2_tt", packet({18, Self, Hb, Token, {shutdown, why}})},
         {"payload_exit", packet({24, Self, Hb}, {badarith, [{m, f, 1, []}]})},
         {"payload_exit_tt", packet({25, Self, Hb, Token}, normal)},
         {"payload_exit2", packet({26, Self, Hb}, kill)},
         {"payload_exit2_tt", packet({27, Self, Hb, Token}, killed)},
         {"send", packet({2, '', Hb}, {hello, Self})},
         {"send_tt", packet({12, '', Hb, Token}, hello)},
         {"send_sender", packet({22, Self, Hb}, hello)},
         {"send_sender_tt", packet({23, Self, Hb, Token}, hello)},
         {"alias_send", packet({33, Self, Alias}, {reply, 1})},
         {"alias_send_tt", packet({34, Self, Alias, Token}, {reply, 1})},
         {"spawn_reply", packet({31, ReqId, Self, 2, Hb})},
         {"spawn_reply_tt", packet({32, ReqId, Self, 0, system_limit, Token})},
         {"unknown_op", packet({99, Self, Hb})},
         {"all_types", packet({2, '', Hb}, all_types())},
         {"all_types_reg_send", packet({6, Self, '', rex}, list_to_tuple(all_types()))},
         {"old_float_ext",
          frame4(<<$p, (t2b({2, '', Hb}))/binary,
                   (term_to_binary([1.5, -2.0e-10, 3.0e100], [{minor_version, 0}]))/binary>>)},
         {"latin1_atom_ext",
          frame4(<<$p, (t2b({2, '', Hb}))/binary, (term_to_binary(all_types()))/binary>>)},
         {"deep_60", packet({2, '', Hb}, deep(60))},
         {"deep_list_70", packet({2, '', Hb}, deep_list(70))},
         {"compressed_payload",
          frame4(<<$p, (t2b({2, '', Hb}))/binary,
                   (term_to_binary(lists:duplicate(200, x), [compressed]))/binary>>)},
         {"legacy_tags", frame4(<<$p, (t2b({2, '', Hb}))/binary, 131, (legacy_tags())/binary>>)},
         {"tick_then_packet", <<0:32, (packet({19, Self, rex, Ref}))/binary>>},
         {"stream_of_three",
          <<(packet({29, ReqId, Self, GL, ErpcCall, [monitor]}, Call(health, ping, [])))/binary,
            0:32, (packet({20, Self, Hb, ReqId}))/binary, (packet({35, 1, Self, Hb}))/binary>>},
         {"truncated", binary:part(packet({2, '', Hb}, all_types()), 0, 40)}],
    Peer ! stop,
    [write(Dir, Name, Bytes) || {Name, Bytes} <- Seeds].

%% A list of the tags OTP 25 no longer emits but still accepts:
%% [ATOM_EXT, SMALL_ATOM_EXT, PID_EXT, PORT_EXT, NEW_PORT_EXT, REFERENCE_EXT,
%%  NEW_REFERENCE_EXT, FLOAT_EXT, EXPORT_EXT with ATOM_EXT names].
legacy_tags() ->
    Node = <<"old@host">>,
    AtomExt = fun(A) -> <<100, (byte_size(A)):16, A/binary>> end,
    SmallAtom = fun(A) -> <<115, (byte_size(A)), A/binary>> end,
    Elems = [AtomExt(<<"latin1_", 233>>),
             SmallAtom(<<"small">>),
             <<103, (AtomExt(Node))/binary, 5:32, 0:32, 1>>,
             <<102, (AtomExt(Node))/binary, 9:32, 2>>,
             <<89, (AtomExt(Node))/binary, 9:32, 3:32>>,
             <<101, (AtomExt(Node))/binary, 77:32, 1>>,
             <<114, 3:16, (AtomExt(Node))/binary, 1, 1:32, 2:32, 3:32>>,
             <<99, (iolist_to_binary(io_lib:format("~-31s", ["1.50000000000000000000e+00"])))/binary>>,
             <<113, (AtomExt(<<"lists">>))/binary, (AtomExt(<<"map">>))/binary, 97, 2>>],
    <<108, (length(Elems)):32, (iolist_to_binary(Elems))/binary, 106>>.

%% ---- request inputs ---------------------------------------------------------

request(Dir) ->
    Self = self(),
    Ref = make_ref(),
    Alias = alias(),
    Req = fun(Mode, Sel, T) -> <<Mode, Sel, (t2b(T))/binary>> end,
    Req3 = fun(Mode, Sel, T, Script) -> <<Mode, Sel, (t2b(T))/binary, Script/binary>> end,
    %% Mode 10: raw packet body (control term, optional payload), then the
    %% script, its length in the selector's low bits.
    Raw = fun(Control, none, Script) ->
                  <<10, (byte_size(Script)), (t2b(Control))/binary, Script/binary>>;
             (Control, {payload, P}, Script) ->
                  <<10, (byte_size(Script)), (t2b(Control))/binary, (t2b(P))/binary,
                    Script/binary>>
          end,
    P = peer_pid(100),
    R = peer_ref(1),
    Seeds =
        [{"erpc_whole_ping", Req(0, 16#10, [Ref, health, ping, []])},
         {"erpc_whole_sleep_demonitor", Req3(0, 16#10, [Ref, health, sleep, [5]], <<0>>)},
         {"erpc_call_ping", Req(1, 16#10, [])},
         {"erpc_call_check", Req(1, 16#11, [])},
         {"erpc_call_sleep_link", Req3(1, 16#32, [10], <<7, 3>>)},
         {"erpc_call_sleep_kill", Req3(1, 16#12, [1], <<1, 7>>)},
         {"erpc_call_metrics", Req(1, 16#13, [])},
         {"erpc_call_undef_args", Req(1, 16#14, [<<"echo hi">>, 1.5, {a, Self}])},
         {"erpc_call_text_args", Req(1, 16#16, [<<"héllo"/utf8>>, "wörld", [104, 105]])},
         {"erpc_call_mfa_tuple", Req(1, 16#10, {health, sleep, [20]})},
         {"erpc_call_badarg_args", Req(1, 16#10, {health, sleep, not_a_list})},
         {"erpc_call_peer_down", Req3(1, 16#12, [10], <<6, 7>>)},
         {"erpc_call_draining", Req3(1, 16#10, [], <<8>>)},
         {"erpc_call_monitor_unlink", Req3(1, 16#32, [5], <<9, 11, 5, 2, 4>>)},
         {"erpc_cast", Req(2, 0, [])},
         {"erpc_cast_sleep", Req3(2, 2, [3], <<6>>)},
         {"spawn_plain", Req(3, 16#21, [])},
         {"spawn_plain_sleep", Req3(3, 16#12, [4], <<1>>)},
         {"spawn_options", Req(4, 0, [monitor, link, {monitor, [{alias, demonitor}]},
                                      {priority, high}, {fullsweep_after, 10}])},
         {"rex_call_alias_tag", Req(5, 16#10, [])},
         {"rex_call_ref_tag_sleep", Req3(5, 16#22, [5], <<10>>)},
         {"rex_call_badargs", Req(5, 16#10, {health, ping, improper})},
         {"rex_raw_gen_call",
          Req(6, 0, {'$gen_call', {Self, [alias | Alias]}, {call, health, check, [], user}})},
         {"rex_raw_other", Req(6, 0, {'$gen_call', {Self, Ref}, {which_calls, x}})},
         {"net_kernel_is_auth",
          Req(7, 0, {'$gen_call', {Self, [alias | Alias]}, {is_auth, node()}})},
         {"rex_cast", Req(8, 0, [])},
         {"rex_legacy_call", Req(8, 16#20, [])},
         {"reg_name_tuple", Req(9, 0, {some_server, {hello, Self}})},
         {"reg_name_atom", Req(9, 0, net_kernel)},
         {"control_monitor_rex", Raw({19, P, rex, R}, none, <<>>)},
         {"control_unlink_id", Raw({35, 3, P, hb_pid(1)}, none, <<7>>)},
         {"control_spawn_request",
          Raw({29, R, P, P, {erpc, execute_call, 4}, [monitor]},
              {payload, [R, health, ping, []]}, <<>>)},
         {"control_spawn_request_undef_then_kill",
          Raw({29, R, P, P, {erpc, execute_call, 4}, [monitor, link]},
              {payload, [R, os, cmd, [<<"ls">>, 1.5]]}, <<1, 3>>)},
         {"control_spawn_request_tt_sleep",
          Raw({30, R, P, P, {erpc, execute_call, 4}, [monitor], {0, P, 1, 2, 3}},
              {payload, [R, health, sleep, [3]]}, <<0, 7>>)},
         {"control_reg_send_tt",
          Raw({16, P, '', rex, {0, P, 1, 2, 3}},
              {payload, {'$gen_call', {P, R}, {call, metrics, get_all, [], user}}}, <<>>)},
         {"control_payload_exit2", Raw({26, P, hb_pid(1)}, {payload, kill}, <<>>)},
         {"all_types", Req(1, 16#14, all_types())}],
    [write(Dir, Name, Bytes) || {Name, Bytes} <- Seeds].

%% ---- handshake streams --------------------------------------------------------

-define(HS_PREPEND_NAME, 1).
-define(HS_DENY_ALL, 2).
-define(HS_CONNECTED, 4).
-define(HS_FIX_DIGEST, 8).
-define(HS_THEN_CONTROL, 16).
-define(HS_NO_CALLBACKS, 128).

%% An OTP 25 node's send_name flags (kernel/include/dist.hrl).
otp25_flags() ->
    lists:foldl(fun erlang:'bor'/2, 0,
                [16#1, 16#4, 16#8, 16#10, 16#20, 16#80, 16#100, 16#200, 16#400, 16#800,
                 16#1000, 16#2000, 16#4000, 16#10000, 16#20000, 16#40000, 16#80000,
                 16#100000, 16#400000, 16#800000, 16#1000000, 16#2000000, 16#4000000,
                 1 bsl 32, 1 bsl 34, 1 bsl 35]).

name_packet(Flags, Name) ->
    frame2(<<$N, Flags:64, 16#6502a1f3:32, (byte_size(Name)):16, Name/binary>>).

digest(Challenge) -> erlang:md5([?COOKIE, integer_to_list(Challenge)]).

reply_packet(Digest) -> frame2(<<$r, 16#0badcafe:32, Digest/binary>>).

handshake(Dir) ->
    Self = self(),
    Name = name_packet(otp25_flags(), <<"client@host">>),
    Good = reply_packet(digest(?CHALLENGE)),
    Bad = reply_packet(digest(?CHALLENGE + 1)),
    Zero = reply_packet(<<0:128>>),
    Control = <<0:32, (packet({29, make_ref(), Self, Self, {erpc, execute_call, 4}, [monitor]},
                              [make_ref(), health, ping, []]))/binary,
                (packet({6, Self, '', net_kernel},
                        {'$gen_call', {Self, make_ref()}, {is_auth, node()}}))/binary>>,
    Seeds =
        [{"ok_full", <<0, Name/binary, Good/binary>>},
         {"wrong_cookie", <<0, Name/binary, Bad/binary>>},
         {"alive_true", <<?HS_CONNECTED, Name/binary, (frame2(<<"strue">>))/binary, Good/binary>>},
         {"alive_false", <<?HS_CONNECTED, Name/binary, (frame2(<<"sfalse">>))/binary>>},
         {"alive_garbage", <<?HS_CONNECTED, Name/binary, (frame2(<<"smaybe">>))/binary>>},
         {"not_allowed", <<?HS_DENY_ALL, Name/binary, Good/binary>>},
         {"prepended_name_reply", <<?HS_PREPEND_NAME, Good/binary>>},
         {"prepended_fixed_digest", <<(?HS_PREPEND_NAME bor ?HS_FIX_DIGEST), Zero/binary>>},
         {"then_control", <<?HS_THEN_CONTROL, Name/binary, Good/binary, Control/binary>>},
         {"prepended_fixed_then_control",
          <<(?HS_PREPEND_NAME bor ?HS_FIX_DIGEST bor ?HS_THEN_CONTROL bor 16#40),
            Zero/binary, Control/binary>>},
         {"packets_after_done", <<0, Name/binary, Good/binary, Good/binary, Name/binary>>},
         {"old_n_handshake",
          <<0, (frame2(<<$n, 5:16, 16#3fffd:32, "client@host">>))/binary>>},
         {"missing_mandatory_flags", <<0, (name_packet(16#1 bor 16#4, <<"client@host">>))/binary>>},
         {"bad_node_name", <<0, (name_packet(otp25_flags(), <<"no_at_sign">>))/binary>>},
         {"length_mismatch", <<0, (frame2(<<$N, 0:64, 0:32, 40:16, "short@h">>))/binary>>},
         {"empty_packet", <<0, 0:16>>},
         {"one_byte_reads", <<16#20, Name/binary, Good/binary>>},
         {"seven_byte_reads_alive",
          <<(16#40 bor ?HS_CONNECTED), Name/binary, (frame2(<<"strue">>))/binary, Good/binary>>},
         {"no_callbacks", <<?HS_NO_CALLBACKS, Name/binary, Good/binary>>},
         {"refused_then_more", <<?HS_DENY_ALL, Name/binary, Name/binary, Good/binary>>}],
    [write(Dir, N, B) || {N, B} <- Seeds].
