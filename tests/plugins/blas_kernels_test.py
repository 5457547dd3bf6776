#!/usr/bin/env python3
"""use_lite gives the same embeddings whatever OpenBLAS kernels the daemon
chooses (README "BLAS kernels and threads"): plugin_bench --dump embeds the
bench corpus with the library's own kernels, with the automatic choice and
with each kernel set pinned; every row must have cosine >= 0.9999 with the
library's. Then the TF.js fixture test of use_lite_tests runs under the
automatic choice, and a daemon serving use_lite shows its choice in
health:check: `auto` normally, `fallback` with a warning in its log when
every kernel set is made to compute wrong numbers (HB_BLAS_PROBE_FAULT),
and still serves. Exits 77 (skipped) without the model files.

usage: blas_kernels_test.py BUILD_DIR
"""
import os
import re
import subprocess
import sys
import tempfile
from array import array

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from hbtest import Daemon  # noqa: E402

NAMES = ["auto", "SapphireRapids", "Cooperlake", "SkylakeX", "Haswell", "Zen", "Sandybridge"]


def embed(build, model_dir, blas, path):
    out = subprocess.run(
        [os.path.join(build, "bench/plugin_bench"), os.path.join(build, "plugins/use_lite.so"),
         '{"model_dir": "%s"}' % model_dir, "--blas", blas, "--dump", path],
        capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        sys.exit("plugin_bench --blas %s failed: %s%s" % (blas, out.stdout, out.stderr))
    rows = array("f")
    with open(path, "rb") as f:
        rows.frombytes(f.read())
    return out.stdout.splitlines()[0], [rows[i:i + 512] for i in range(0, len(rows), 512)]


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    na = sum(x * x for x in a) ** 0.5
    nb = sum(y * y for y in b) ** 0.5
    return dot / (na * nb)


HEALTH = ('[M] = maps:get(models, rpc:call(NODE, health, check, [])), B = maps:get(blas, M), '
          'V = rpc:call(NODE, ml, encode, [<<"a test">>]), '
          'io:format("~s ~s ~p ~p", [maps:get(source, B), maps:get(coretype, B), '
          'maps:get(gflops, B) > 0, length(V)])')


def daemon_check(build, model_dir, fault):
    """health:check's blas map of a use_lite daemon, and its log."""
    config = ('{"plugin_dir": "%s", "models": {"default": {"plugin": "use_lite", '
              '"options": {"model_dir": "%s"}}}}' % (os.path.join(build, "plugins"), model_dir))
    env = dict(os.environ)
    if fault:
        env["HB_BLAS_PROBE_FAULT"] = fault
    subprocess.run(["epmd", "-daemon"], check=False)
    with tempfile.TemporaryDirectory() as tmp:
        env["XDG_CACHE_HOME"] = tmp  # a first start: probes
        d = Daemon(os.path.join(build, "hornbeamd"), tmp, config=config, env=env)
        try:
            d.wait_registered(timeout=60)
            return d.call(HEALTH), d.log_text()
        finally:
            d.close()


def check_daemon(build, model_dir):
    failed = False
    for fault, want in ((None, "auto"), ("corrupt:*", "fallback")):
        out, log = daemon_check(build, model_dir, fault)
        words = out.split()
        ok = len(words) == 4 and words[0] == want and words[3] == "512"
        if fault:
            ok = ok and "warning: no OpenBLAS kernels passed the self-check" in log
        else:
            ok = ok and words[2] == "true"
        print("daemon, fault %s: health blas %s: %s" % (fault, out, "ok" if ok else "FAIL\n" + log))
        failed |= not ok
    return failed


def main():
    build = os.path.abspath(sys.argv[1])
    model_dir = os.environ.get("HB_USE_LITE_DIR") or os.path.join(build, "models/use_lite")
    if not os.path.isfile(os.path.join(model_dir, "model.json")):
        print("SKIPPED: no use_lite model in %s (scripts/fetch-use-lite)" % model_dir)
        return 77
    if not os.access(os.path.join(build, "hornbeamd-blas-probe"), os.X_OK):
        print("SKIPPED: hornbeamd-blas-probe not built")
        return 77
    failed = False
    auto_core = None
    with tempfile.TemporaryDirectory() as tmp:
        _, ref = embed(build, model_dir, "library", os.path.join(tmp, "library"))
        for name in NAMES:
            line, rows = embed(build, model_dir, name, os.path.join(tmp, name))
            worst = min(cosine(a, b) for a, b in zip(rows, ref))
            ok = len(rows) == len(ref) and worst >= 0.9999
            failed |= not ok
            print("%-14s min cosine %.7f vs library: %s  [%s]" % (name, worst, "ok" if ok else
                                                                  "FAIL", line))
            if name == "auto":
                m = re.search(r"blas: (\S+) kernels \(auto", line)
                auto_core = m.group(1) if m else None
    if auto_core:
        env = dict(os.environ, OPENBLAS_CORETYPE=auto_core, HB_USE_LITE_DIR=model_dir)
        r = subprocess.run([os.path.join(build, "plugins/use_lite/use_lite_tests"),
                            "embeddings match the TF.js reference (cosine >= 0.999)"],
                           env=env, capture_output=True, text=True, timeout=600)
        print("TF.js fixtures with %s kernels: %s" % (auto_core, "ok" if r.returncode == 0
                                                       else "FAIL\n" + r.stdout[-2000:]))
        failed |= r.returncode != 0
    failed |= check_daemon(build, model_dir)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
