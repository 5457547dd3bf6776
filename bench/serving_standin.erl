%% A plain BEAM node's stand-in for ml:encode/1 in bench/serving_bench.sh:
%% the same reply shape (256 floats), no model behind it.
-module(serving_standin).
-export([encode/1]).

encode(Text) when is_binary(Text) ->
    H = erlang:phash2(Text),
    [float((H + K) rem 97) / 97.0 || K <- lists:seq(1, 256)].
