# The client from Elixir, against one daemon started by run_cluster_tests.sh --elixir.
ExUnit.start()
Logger.configure(level: :warning)

defmodule HornbeamElixirTest do
  use ExUnit.Case

  setup_all do
    Application.load(:hornbeam)
    pattern = System.get_env("HB_NODE_PREFIX") <> "*@" <> System.get_env("HB_HOST")
    Application.put_env(:hornbeam, :nodes, [pattern])
    {:ok, _} = Application.ensure_all_started(:hornbeam)
    wait_up(100)
    :ok
  end

  defp wait_up(0), do: flunk("no node up: #{inspect(:hornbeam.nodes())}")

  defp wait_up(n) do
    if Enum.any?(:hornbeam.nodes(), &(&1.state == :up)) do
      :ok
    else
      Process.sleep(200)
      wait_up(n - 1)
    end
  end

  test "encode with a keyword list of options" do
    assert {:ok, [5.0, 104.0, _, 1.0]} = :hornbeam.encode("hello", timeout: 5000)
  end

  test "batch_encode keeps the order" do
    texts = for n <- 1..40, do: String.duplicate("a", n)
    assert {:ok, rows} = :hornbeam.batch_encode(texts, %{timeout: 10_000})
    assert Enum.map(rows, fn [len | _] -> round(len) end) == Enum.to_list(1..40)
  end

  test "errors are values" do
    assert {:error, :badarg} = :hornbeam.encode(123, [])
    assert {:ok, :local} = :hornbeam.encode("x", model: :nope, fallback: fn -> :local end)
  end
end
