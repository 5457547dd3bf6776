// hornbeamd: an Erlang C node that serves inference over plain rpc:call.
//
// main() wires the pieces together on one libuv loop: DistNode (the wire),
// RpcServer (the calls), Dispatcher + WorkerPool (where work runs), and the
// built-in services. Startup failures print one line and exit non-zero.
#include <ei.h>
#include <signal.h>
#include <uv.h>

#include <cstdio>
#include <memory>
#include <thread>

#include "daemon/cookie.h"
#include "daemon/dispatcher.h"
#include "daemon/health_service.h"
#include "daemon/metrics.h"
#include "daemon/model_registry.h"
#include "daemon/options.h"
#include "daemon/router.h"
#include "daemon/rpc_server.h"
#include "daemon/version.h"
#include "daemon/worker_pool.h"
#include "ei_bridge/dist_node.h"
#include "ei_bridge/log.h"

namespace hb {
namespace {

// DistNode needs its handler before the creation (from epmd) is known, and
// the RpcServer needs the creation to mint pids: forward once it exists.
class Forwarder : public DistHandler {
 public:
  RpcServer* target = nullptr;
  void OnPeerUp(const PeerInfo& p) override {
    if (target) target->OnPeerUp(p);
  }
  void OnPeerDown(const std::string& n) override {
    if (target) target->OnPeerDown(n);
  }
  void OnControl(const std::string& n, ControlMessage m) override {
    if (target) target->OnControl(n, std::move(m));
  }
};

struct Daemon {
  uv_loop_t loop;
  Options options;
  Metrics metrics;
  Router router;
  std::unique_ptr<WorkerPool> pool;
  std::unique_ptr<Dispatcher> dispatcher;
  Forwarder forwarder;
  std::unique_ptr<DistNode> node;
  std::unique_ptr<RpcServer> server;
  std::unique_ptr<ModelRegistry> models;
  NodeStatus status;
  uv_signal_t sigterm, sigint, sighup;
  int exit_code = 0;
  bool stopping = false;

  // Re-reads the configuration file (if any) and reloads what changed.
  void Reload() {
    Options fresh = options;
    if (!options.config_path.empty()) {
      std::vector<char*> argv = {const_cast<char*>("hornbeamd"), const_cast<char*>("--config"),
                                 const_cast<char*>(options.config_path.c_str())};
      Result<Options> parsed = ParseOptions(static_cast<int>(argv.size()), argv.data());
      if (!parsed.ok()) {
        HB_LOG_ERROR("reload refused, configuration unchanged: " + parsed.status().message());
        return;
      }
      fresh.models = parsed->models;
      fresh.routes = parsed->routes;
      ApplyDefaultModels(&fresh);
    }
    models->Reload(fresh.models, fresh.routes);
    options.models = fresh.models;
    options.routes = fresh.routes;
  }

  void Shutdown(int code) {
    if (stopping) return;
    stopping = true;
    exit_code = code;
    uv_signal_stop(&sigterm);
    uv_signal_stop(&sigint);
    uv_signal_stop(&sighup);
    node->Stop([this] {
      models->Close([this] { dispatcher->Close([this] {
        pool->Shutdown();
        uv_close(reinterpret_cast<uv_handle_t*>(&sigterm), nullptr);
        uv_close(reinterpret_cast<uv_handle_t*>(&sigint), nullptr);
        uv_close(reinterpret_cast<uv_handle_t*>(&sighup), nullptr);
      }); });
    });
  }
};

int Run(int argc, char** argv) {
  Result<Options> parsed = ParseOptions(argc, argv);
  if (!parsed.ok()) {
    fprintf(stderr, "hornbeamd: %s\n%s", parsed.status().message().c_str(), UsageText());
    return 2;
  }
  Daemon d;
  d.options = std::move(parsed).value();
  if (d.options.help) {
    fputs(UsageText(), stdout);
    return 0;
  }
  if (d.options.version) {
    printf("hornbeamd %s\n", HB_VERSION);
    return 0;
  }
  LogLevel level;
  if (!ParseLogLevel(d.options.log_level, &level)) {
    fprintf(stderr, "hornbeamd: --log-level: unknown level '%s'\n", d.options.log_level.c_str());
    return 2;
  }
  SetLogLevel(level);

  DistConfig dc;
  Result<std::string> full = ResolveNodeName(d.options, &dc.alive, &dc.host);
  if (!full.ok()) {
    HB_LOG_ERROR("cannot start: " + full.status().message());
    return 1;
  }
  Result<std::string> cookie = LoadCookie(d.options.cookie, d.options.cookie_file);
  if (!cookie.ok()) {
    HB_LOG_ERROR("cannot start: " + cookie.status().message());
    return 1;
  }
  dc.cookie = *cookie;
  dc.port = d.options.port;
  dc.bind_address = d.options.bind_address;
  dc.net_ticktime_ms = d.options.net_ticktime_s * 1000;
  dc.handshake_timeout_ms = d.options.handshake_timeout_ms;

  signal(SIGPIPE, SIG_IGN);
  uv_loop_init(&d.loop);
  size_t workers = d.options.workers ? d.options.workers
                                     : std::max(2u, std::thread::hardware_concurrency());
  d.pool = std::make_unique<WorkerPool>(workers);
  d.dispatcher = std::make_unique<Dispatcher>(&d.loop, &d.router, d.pool.get(), &d.metrics);
  d.node = std::make_unique<DistNode>(&d.loop, dc, &d.forwarder);

  d.status.node = *full;
  d.status.version = HB_VERSION;
  d.status.started_ms = uv_now(&d.loop);
  uv_loop_t* loop = &d.loop;
  d.status.now_ms = [loop] { return uv_now(loop); };
  d.status.peers = [&d] { return d.node->Peers(); };
  d.status.inflight = [&d] { return static_cast<uint64_t>(d.dispatcher->inflight()); };
  d.status.draining = [&d] { return d.stopping; };
  AddHealthRoutes(&d.router, &d.status, &d.metrics);

  ApplyDefaultModels(&d.options);
  std::string plugin_dir = d.options.plugin_dir.empty() ? DefaultPluginDir() : d.options.plugin_dir;
  d.models = std::make_unique<ModelRegistry>(&d.loop, &d.router, plugin_dir);
  HB_LOG_INFO("loading " + std::to_string(d.options.models.size()) + " model(s) from " + plugin_dir);
  size_t failed = d.models->Load(d.options.models, d.options.routes);
  if (failed > 0) {
    HB_LOG_WARN(std::to_string(failed) + " model(s) failed to load; serving the rest (health: degraded)");
  }
  d.models->WatchDirectory();
  d.status.degraded = [&d] { return d.models->degraded(); };
  d.status.models_health = [&d] { return d.models->HealthTerm(); };
  d.status.models_metrics = [&d] { return d.models->MetricsTerm(); };
  d.status.reloads = [&d] { return d.models->reloads_completed(); };

  uv_signal_init(&d.loop, &d.sigterm);
  uv_signal_init(&d.loop, &d.sigint);
  uv_signal_init(&d.loop, &d.sighup);
  d.sigterm.data = d.sigint.data = d.sighup.data = &d;
  uv_signal_start(&d.sigterm, [](uv_signal_t* s, int) {
    HB_LOG_INFO("SIGTERM: shutting down");
    static_cast<Daemon*>(s->data)->Shutdown(0);
  }, SIGTERM);
  uv_signal_start(&d.sigint, [](uv_signal_t* s, int) {
    HB_LOG_INFO("SIGINT: shutting down");
    static_cast<Daemon*>(s->data)->Shutdown(0);
  }, SIGINT);
  uv_signal_start(&d.sighup, [](uv_signal_t* s, int) {
    auto* self = static_cast<Daemon*>(s->data);
    HB_LOG_INFO("SIGHUP: reloading models and plugins");
    self->Reload();
  }, SIGHUP);

  d.node->Start([&d](Status s) {
    if (!s.ok()) {
      HB_LOG_ERROR("cannot start: " + s.message());
      d.Shutdown(1);
      return;
    }
    d.server = std::make_unique<RpcServer>(
        d.node->node_name(), d.node->creation(), d.dispatcher.get(),
        [&d](const std::string& n, const ControlMessage& m) { return d.node->Send(n, m); });
    d.forwarder.target = d.server.get();
    HB_LOG_INFO("hornbeamd " + std::string(HB_VERSION) + " serving as '" + d.node->node_name() +
                "' on port " + std::to_string(d.node->port()) + " with " +
                std::to_string(d.pool->threads()) + " workers");
  });

  uv_run(&d.loop, UV_RUN_DEFAULT);
  d.forwarder.target = nullptr;
  d.server.reset();
  d.node.reset();
  int rc = uv_loop_close(&d.loop);
  if (rc != 0) HB_LOG_WARN(std::string("loop closed with live handles: ") + uv_strerror(rc));
  return d.exit_code;
}

}  // namespace
}  // namespace hb

int main(int argc, char** argv) {
  ei_init();  // once, before any thread starts
  return hb::Run(argc, argv);
}
