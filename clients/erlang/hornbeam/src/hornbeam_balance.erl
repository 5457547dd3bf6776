%% @doc Pure routing arithmetic: a node's score, the power-of-two-choices
%% pick, and the proportional split of a batch and its reassembly.
%%
%% A candidate is `{Node, Capacity, Load}': Capacity is how many requests the
%% node serves at once (the model's instances times the configured weight),
%% Load the expected work ahead of a new request (this client's outstanding
%% calls plus the node's polled queue, see {@link hornbeam_state}), and
%% LatencyMs the node's recent mean call time.
-module(hornbeam_balance).
-export([score/1, pick/2, split_sizes/2, split_sizes/3, split/3, reassemble/1]).

-type candidate() :: #{node := node(), capacity := pos_integer() | float(),
                       load := number(), latency_ms := number()}.
-export_type([candidate/0]).

%% @doc Expected time until a new request on this node is done, in units of
%% the node's latency: lower is better.
-spec score(candidate()) -> float().
score(#{capacity := Cap, load := Load, latency_ms := Lat}) ->
    (Load + 1) * max(Lat, 1) / max(Cap, 0.001).

%% @doc Power of two choices: two distinct candidates drawn at random, the
%% better score wins (ties: the first drawn).  `RandFun(N)' returns an
%% integer in 1..N (`rand:uniform/1'; tests pass their own).
-spec pick([candidate()], fun((pos_integer()) -> pos_integer())) -> candidate() | none.
pick([], _Rand) -> none;
pick([One], _Rand) -> One;
pick(Cands, Rand) ->
    N = length(Cands),
    I = Rand(N),
    J0 = Rand(N - 1),
    J = case J0 >= I of true -> J0 + 1; false -> J0 end,
    A = lists:nth(I, Cands),
    B = lists:nth(J, Cands),
    case score(B) < score(A) of true -> B; false -> A end.

%% @doc Cuts `Total' items into parts proportional to `Weights' (largest
%% remainder; every part gets at least `MinPart' items, so fewer parts are
%% used when Total is small).  Returns `[{Key, Size}]' with Size > 0, in the
%% order of `Weights', summing to Total.
-spec split_sizes(non_neg_integer(), [{term(), number()}]) -> [{term(), pos_integer()}].
split_sizes(0, _) -> [];
split_sizes(_, []) -> [];
split_sizes(Total, Weights0) ->
    split_sizes(Total, Weights0, 1).

-spec split_sizes(non_neg_integer(), [{term(), number()}], pos_integer()) ->
          [{term(), pos_integer()}].
split_sizes(0, _, _) -> [];
split_sizes(_, [], _) -> [];
split_sizes(Total, Weights0, MinPart) ->
    Weights = [{K, max(W, 0.0) + 1.0e-9} || {K, W} <- Weights0],
    MaxParts = max(1, Total div max(MinPart, 1)),
    Kept = keep_heaviest(Weights, MaxParts),
    Sum = lists:sum([W || {_, W} <- Kept]),
    Quotas = [{K, Total * W / Sum} || {K, W} <- Kept],
    Floors = [{K, trunc(Q), Q - trunc(Q)} || {K, Q} <- Quotas],
    Left = Total - lists:sum([F || {_, F, _} <- Floors]),
    ByRem = lists:sort(fun({_, _, R1}, {_, _, R2}) -> R1 >= R2 end, Floors),
    Bonus = [K || {K, _, _} <- lists:sublist(ByRem, Left)],
    [{K, F + count(K, Bonus)} || {K, F, _} <- Floors, F + count(K, Bonus) > 0].

keep_heaviest(Weights, MaxParts) when length(Weights) =< MaxParts -> Weights;
keep_heaviest(Weights, MaxParts) ->
    Heavy = lists:sublist(lists:sort(fun({_, A}, {_, B}) -> A >= B end, Weights), MaxParts),
    [KW || KW <- Weights, lists:member(KW, Heavy)].

count(K, L) -> length([X || X <- L, X =:= K]).

%% @doc Splits `Items' by `Weights' into `[{Key, Offset, Part}]' (Offset is
%% the 0-based index of the part's first item), with parts of at least
%% `MinPart' items where possible.
-spec split([term()], [{term(), number()}], pos_integer()) ->
          [{term(), non_neg_integer(), [term()]}].
split(Items, Weights, MinPart) ->
    Sizes = split_sizes(length(Items), Weights, MinPart),
    {Parts, []} = lists:foldl(
                    fun({K, Size}, {Acc, Rest}) ->
                            {Part, Rest1} = lists:split(Size, Rest),
                            Off = length(Items) - length(Rest),
                            {[{K, Off, Part} | Acc], Rest1}
                    end, {[], Items}, Sizes),
    lists:reverse(Parts).

%% @doc The results of the parts, given as `[{Offset, Results}]' in any
%% order, concatenated in item order.
-spec reassemble([{non_neg_integer(), [term()]}]) -> [term()].
reassemble(Parts) ->
    lists:append([R || {_, R} <- lists:keysort(1, Parts)]).
