%% The seed application's cluster module, as its issue (#12) quotes it:
%% discovery is `[N || N <- nodes(), is_gpu_node(N)]` after a
%% net_adm:ping, and cluster metrics map over nodes(). Kept as written, to
%% show that it finds a visible hornbeamd unchanged.
-module(hb_seed_cluster).
-export([gpu_nodes/0, find_node/1, collect_metrics/0]).

gpu_nodes() ->
    [N || N <- nodes(), is_gpu_node(N)].

find_node(Node) ->
    case net_adm:ping(Node) of
        pong ->
            case lists:member(Node, gpu_nodes()) of
                true -> {ok, Node};
                false -> {error, not_a_gpu_node}
            end;
        pang -> {error, unreachable}
    end.

collect_metrics() ->
    maps:from_list([{N, M} || N <- nodes(),
                              M <- [rpc:call(N, metrics, get_all, [], 5000)],
                              is_map(M)]).

is_gpu_node(Node) ->
    rpc:call(Node, health, ping, [], 5000) =:= pong.
