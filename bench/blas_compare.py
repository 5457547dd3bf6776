#!/usr/bin/env python3
"""use_lite texts/s and GFLOP/s under several OpenBLAS kernel choices, runs
interleaved so that what else holds the CPUs hits every choice alike; the
best run of each cell is kept (a run that lost the CPU is slow, never fast).

usage: bench/blas_compare.py [BUILD_DIR] [MODEL_DIR] [--blas library,auto,Prescott]
                             [--rounds 3] [--seconds 3]
"""
import argparse
import json
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("build", nargs="?", default=os.path.join(ROOT, "build"))
    p.add_argument("model_dir", nargs="?")
    p.add_argument("--blas", default="library,auto,Prescott")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", default="3")
    a = p.parse_args()
    model_dir = a.model_dir or os.path.join(a.build, "models/use_lite")
    bench = [os.path.join(a.build, "bench/plugin_bench"), os.path.join(a.build, "plugins/use_lite.so"),
             json.dumps({"model_dir": os.path.abspath(model_dir)})]
    choices = a.blas.split(",")
    best, lines = {}, {}
    for _ in range(a.rounds):
        for c in choices:
            out = subprocess.run(bench + ["--blas", c, "--seconds", a.seconds, "--json"],
                                 capture_output=True, text=True, check=True).stdout
            for line in out.splitlines():
                if line.startswith("# "):
                    lines.setdefault(c, line[2:])
                    continue
                row = json.loads(line)
                key = (c, row["batch"])
                if key not in best or row["texts_per_s"] > best[key]["texts_per_s"]:
                    best[key] = row
    for c in choices:
        print("%s: %s" % (c, lines.get(c, "")))
    print("\n| batch | " + " | ".join("%s texts/s | GFLOP/s" % c for c in choices) + " |")
    print("|---:|" + "---:|---:|" * len(choices))
    for batch in sorted({b for _, b in best}):
        cells = ["%.0f | %.1f" % (best[(c, batch)]["texts_per_s"], best[(c, batch)]["gflops"])
                 for c in choices]
        print("| %d | %s |" % (batch, " | ".join(cells)))
    print("\nload average: %.2f %.2f %.2f" % os.getloadavg())


if __name__ == "__main__":
    main()
