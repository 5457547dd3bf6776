#!/usr/bin/env python3
"""Every configuration example in the README (```json blocks and `echo '{...}'
> FILE.json` lines) and config/hornbeamd.example.json, run for real: the
daemon starts with it, --check-config accepts it, and ml:encode through
each of its routes returns a vector. Paths that belong to an installation
(plugin_dir, cookie_file) are overridden with flags, as an operator's test
run would; the use_lite model directory is where scripts/fetch-use-lite put
it ($HB_USE_LITE_DIR, default build/models/use_lite). An example with a
"tls" object gets certificates made by tests/integration/make_test_certs.sh
(its files taken by name: ca.pem, server.pem, ...), and its calls come from
an `erl -proto_dist inet_tls` node using the README's ssl_dist_optfile with
the same files.

usage: config_examples_test.py DAEMON_BINARY PLUGIN_DIR SOURCE_DIR
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from hbtest import HOST, Daemon  # noqa: E402

DAEMON = PLUGIN_DIR = SOURCE_DIR = None


def readme_examples(text):
    """(where, JSON text) for every configuration example in README text."""
    found = []
    for m in re.finditer(r"```json\n(.*?)```", text, re.S):
        found.append(("README ```json block at offset %d" % m.start(), m.group(1)))
    for m in re.finditer(r"echo '(\{.*?\})' > \S+\.json", text):
        found.append(("README echo line at offset %d" % m.start(), m.group(1)))
    return found


PEM_PATH = re.compile(r'"(/[^"]*/)?([^/"]+\.(?:pem|key))"')


def readme_optfile(text):
    """The README's ssl_dist_optfile (the ```erlang block with a client section)."""
    for m in re.finditer(r"```erlang\n(.*?)```", text, re.S):
        if "{client," in m.group(1):
            return m.group(1)
    return None


def use_lite_dir():
    d = os.environ.get("HB_USE_LITE_DIR") or os.path.join(SOURCE_DIR, "build/models/use_lite")
    return os.path.abspath(d)


def localize(cfg):
    """The example with installation paths taken out; model_dir made absolute."""
    cfg = dict(cfg)
    for key in ("plugin_dir", "cookie_file", "cookie"):
        cfg.pop(key, None)
    for model in cfg.get("models", {}).values():
        opts = model.get("options", {})
        if "model_dir" in opts:
            opts["model_dir"] = use_lite_dir()
    return cfg


class ConfigExamplesTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="hbcfg.")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def examples(self):
        with open(os.path.join(SOURCE_DIR, "README.md")) as f:
            found = readme_examples(f.read())
        with open(os.path.join(SOURCE_DIR, "config/hornbeamd.example.json")) as f:
            found.append(("config/hornbeamd.example.json", f.read()))
        return found

    def test_readme_has_examples(self):
        # The extraction itself: the README's use_lite example is among them.
        self.assertTrue(any("use_lite" in text for _, text in self.examples()))

    def test_every_example_serves(self):
        for where, text in self.examples():
            with self.subTest(example=where):
                self.check_example(where, json.loads(text))

    def tls_files(self, cfg):
        """Certificates for cfg's "tls" in tmp, cfg pointing at them; and
        the erl flags of a client using the README's optfile with them."""
        tls_dir = os.path.join(self.tmp, "tls")
        if not os.path.isdir(tls_dir):
            subprocess.run([os.path.join(SOURCE_DIR, "tests/integration/make_test_certs.sh"),
                            tls_dir, HOST], check=True)
        local = PEM_PATH.sub(lambda m: '"%s/%s"' % (tls_dir, m.group(2)), json.dumps(cfg["tls"]))
        cfg["tls"] = json.loads(local)
        with open(os.path.join(SOURCE_DIR, "README.md")) as f:
            optfile = readme_optfile(f.read())
        self.assertTrue(optfile, "README has no ssl_dist_optfile example")
        path = os.path.join(tls_dir, "client.conf")
        with open(path, "w") as f:
            f.write(PEM_PATH.sub(lambda m: '"%s/%s"' % (tls_dir, m.group(2)), optfile))
        return "-proto_dist inet_tls -ssl_dist_optfile " + path

    def check_example(self, where, cfg):
        cfg = localize(cfg)
        if os.environ.get("ASAN_OPTIONS"):
            # A sanitizer build's worker reserves terabytes of address space
            # and cannot live under RLIMIT_AS (the isolation unit test skips
            # for the same reason): serve the example without its limit.
            for m in cfg.get("models", {}).values():
                m.pop("memory_limit_bytes", None)
        erl_flags = self.tls_files(cfg) if "tls" in cfg else None
        path = os.path.join(self.tmp, "example.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        cookie = os.path.join(self.tmp, "cookie")
        if not os.path.exists(cookie):
            with open(cookie, "w") as f:
                f.write("EXAMPLECOOKIE")
            os.chmod(cookie, 0o400)
        flags = ["--config", path, "--plugin-dir", PLUGIN_DIR]
        check = subprocess.run([DAEMON, "--check-config", "--cookie-file", cookie] + flags,
                               capture_output=True, text=True)
        self.assertEqual(check.returncode, 0, "%s: %s" % (where, check.stderr))
        routes = json.loads(check.stdout)["routes"]
        self.assertTrue(routes, "%s serves no module" % where)
        d = Daemon(DAEMON, self.tmp, extra=flags)
        if erl_flags:
            d.env["ERL_FLAGS"] = erl_flags  # the client erl nodes only
        try:
            d.wait_registered(timeout=60)
            for module in sorted(routes):
                out = d.call('io:format("~p", [length(rpc:call(NODE, %s, encode, '
                             '[<<"an example sentence">>], 60000))])' % module)
                self.assertRegex(out, r"^[0-9]+$", "%s: %s:encode gave %s; log:\n%s"
                                 % (where, module, out, d.log_text()))
                self.assertGreater(int(out), 0)
        finally:
            d.close()


if __name__ == "__main__":
    DAEMON, PLUGIN_DIR, SOURCE_DIR = sys.argv[1], sys.argv[2], sys.argv[3]
    unittest.main(argv=sys.argv[:1], verbosity=2)
