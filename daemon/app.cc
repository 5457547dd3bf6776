#include "daemon/app.h"

#include <fnmatch.h>
#include <malloc.h>
#include <signal.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

#include "base/catch_all.h"
#include "base/log.h"
#include "daemon/cookie.h"
#include "daemon/debug_service.h"
#include "daemon/node_name.h"
#include "daemon/prometheus.h"
#include "daemon/tls_options.h"
#include "daemon/version.h"
#include "ei_bridge/control.h"

namespace hb {
namespace {

// The limits of `o` that DistNode applies (at start, and again on reload).
void SetDistLimits(const Options& o, DistConfig* dc) {
  dc->handshake_timeout_ms = o.handshake_timeout_ms;
  dc->max_packet_bytes = o.max_packet_bytes;
  dc->max_connections = o.max_connections;
  dc->term_limits.max_depth = o.max_term_depth;
  dc->term_limits.max_elements = o.max_term_elements;
  dc->admit = nullptr;
  if (!o.allowed_peers.empty()) {
    std::vector<std::string> patterns = o.allowed_peers;
    dc->admit = [patterns](std::string_view peer) {
      std::string name(peer);
      for (const std::string& p : patterns) {
        if (fnmatch(p.c_str(), name.c_str(), 0) == 0) return true;
      }
      return false;
    };
  }
}

// metrics:get_all's `wire` map.
Term WireTerm(const DistStats& d) {
  auto n = [](uint64_t v) { return Term::Int(static_cast<int64_t>(v)); };
  std::vector<std::pair<Term, Term>> tls;
  for (int i = 0; i < kTlsOutcomeCount; ++i) {
    tls.emplace_back(Term::Atom(TlsOutcomeName(static_cast<TlsOutcome>(i))), n(d.tls_handshakes[i]));
  }
  return Term::Map({{Term::Atom("connections_accepted"), n(d.connections_accepted)},
                    {Term::Atom("handshakes_failed"), n(d.handshakes_failed)},
                    {Term::Atom("bad_packets"), n(d.bad_packets)},
                    {Term::Atom("refused_connection_limit"), n(d.refused_connection_limit)},
                    {Term::Atom("packets_in"), n(d.packets_in)},
                    {Term::Atom("packets_out"), n(d.packets_out)},
                    {Term::Atom("bytes_in"), n(d.bytes_in)},
                    {Term::Atom("bytes_out"), n(d.bytes_out)},
                    {Term::Atom("tls_handshakes"), Term::Map(std::move(tls))}});
}

}  // namespace

App::App(Options options) : options_(std::move(options)) { uv_loop_init(&loop_); }

App::~App() {
  int rc = uv_loop_close(&loop_);
  if (rc != 0) HB_LOG_WARN(std::string("loop closed with live handles: ") + uv_strerror(rc));
}

void App::OnPeerUp(const PeerInfo& p) {
  if (server_) server_->OnPeerUp(p);
}
void App::OnPeerDown(const std::string& n) {
  if (server_) server_->OnPeerDown(n);
}
void App::OnControl(const std::string& n, ControlMessage m) {
  if (server_) server_->OnControl(n, std::move(m));
}

int App::Run() {
  if (!Start()) {
    FinishShutdown(1);
  }
  uv_run(&loop_, UV_RUN_DEFAULT);
  cluster_.reset();
  server_.reset();
  node_.reset();
  return exit_code_;
}

bool App::Start() {
  DistConfig dc;
  Result<std::string> full = ResolveNodeName(options_, &dc.alive, &dc.host);
  Result<std::string> cookie = full.ok() ? LoadCookie(options_.cookie, options_.cookie_file)
                                         : Result<std::string>(full.status());
  if (!cookie.ok()) {
    HB_LOG_ERROR("cannot start: " + cookie.status().message());
    return false;
  }
  dc.cookie = *cookie;
  dc.port = options_.port;
  dc.bind_address = options_.bind_address;
  dc.hidden = options_.hidden;
  dc.net_ticktime_ms = options_.net_ticktime_s * 1000;
  SetDistLimits(options_, &dc);
  if (options_.tls.enabled) {
    Result<std::shared_ptr<const TlsContext>> tls = BuildTlsContext(options_.tls);
    if (!tls.ok()) {
      HB_LOG_ERROR("cannot start: " + tls.status().message());
      return false;
    }
    dc.tls = *tls;
  }

  signal(SIGPIPE, SIG_IGN);
  notifier_ = std::make_unique<SystemdNotifier>(&loop_);
  size_t workers = options_.workers ? options_.workers
                                    : std::max(2u, std::thread::hardware_concurrency());
  pool_ = std::make_unique<WorkerPool>(workers);
  dispatcher_ = std::make_unique<Dispatcher>(&loop_, &router_, pool_.get(), &metrics_);
  node_ = std::make_unique<DistNode>(&loop_, dc, this);
  WireStatus(*full);
  // systemd's StateDirectory=hornbeamd sets $STATE_DIRECTORY.
  const char* env = getenv("STATE_DIRECTORY");
  state_dir_ = !options_.state_dir.empty() ? options_.state_dir : env != nullptr ? env : "";
  AddHealthRoutes(&router_, &status_, &metrics_);
  if (DebugRoutesEnabled()) AddDebugRoutes(&router_, pool_.get());
  LoadModels();
  StartTimersAndSignals();
  if (!StartJobs()) return false;
  if (!StartMetricsHttp()) return false;
  node_->Start([this](Status s) { OnNodeReady(std::move(s)); });
  return true;
}

void App::WireStatus(const std::string& node_name) {
  status_.node = node_name;
  status_.version = HB_VERSION;
  status_.started_ms = uv_now(&loop_);
  status_.now_ms = [this] { return uv_now(&loop_); };
  status_.peers = [this] { return node_->Peers(); };
  status_.inflight = [this] { return static_cast<uint64_t>(dispatcher_->inflight()); };
  status_.draining = [this] { return draining_; };
  status_.models = [this](SnapshotDetail d) { return models_->Snapshot(d); };
  status_.reloads = [this] { return models_->reloads_completed(); };
  status_.processes = [this] { return server_ ? server_->processes() : 0; };
  status_.wire_metrics = [this] { return WireTerm(node_->stats()); };
  status_.cluster = [this] { return cluster_ ? cluster_->Describe() : Term::Atom("none"); };
  status_.peer_tls = [this] {
    std::vector<PeerTlsSummary> out;
    for (PeerTlsInfo& p : node_->PeerTls()) out.push_back({p.node, p.version, p.cipher});
    return out;
  };
}

void App::LoadModels() {
  plugin_dir_ = options_.plugin_dir.empty() ? DefaultPluginDir() : options_.plugin_dir;
  models_ = std::make_unique<ModelRegistry>(&loop_, &router_, plugin_dir_);
  // Classifier heads (ml:train/1) read the models' embeddings; their routes
  // share module ml, which every model (re)load re-creates.
  ModelLookup lookup;
  lookup.find = [this](const std::string& name) { return models_->Find(name); };
  lookup.all = [this] { return models_->All(); };
  classifiers_ = std::make_unique<ClassifierService>(pool_.get(), lookup, state_dir_);
  classifiers_->LoadSaved();
  models_->set_after_routes(
      [this] { classifiers_->AddRoutes(&router_, options_.classifier_routes); });
  classifiers_->AddRoutes(&router_, options_.classifier_routes);
  notifier_->Status("loading models");
  HB_LOG_INFO("loading " + std::to_string(options_.models.size()) + " model(s) from " + plugin_dir_);
  size_t failed = models_->Load(options_.models, options_.routes);
  if (failed > 0) {
    HB_LOG_WARN(std::to_string(failed) +
                " model(s) failed to load; serving the rest (health: degraded)");
  }
  models_->WatchDirectory();
}

void App::StartTimersAndSignals() {
  uv_timer_init(&loop_, &drain_timer_);
  drain_timer_.data = this;
  // Results are built on instance and worker threads and freed on the loop
  // thread; glibc keeps such memory in per-thread arenas. Handing free pages
  // back every few seconds keeps RSS flat under steady load (bench/soak.py).
  uv_timer_init(&loop_, &trim_timer_);
  trim_timer_.data = this;
  uv_timer_start(&trim_timer_, [](uv_timer_t* t) {
    malloc_trim(0);
    auto* self = static_cast<App*>(t->data);
    if (self->cluster_) self->cluster_->Tick();
  }, 5000, 5000);
  uv_signal_init(&loop_, &sigterm_);
  uv_signal_init(&loop_, &sigint_);
  uv_signal_init(&loop_, &sighup_);
  sigterm_.data = sigint_.data = sighup_.data = this;
  auto on_stop = [](uv_signal_t* s, int signum) {
    auto* self = static_cast<App*>(s->data);
    const std::string name = signum == SIGINT ? "SIGINT" : "SIGTERM";
    if (self->draining_) {
      HB_LOG_WARN(name + " while draining: stopping now");
      self->FinishShutdown(0);
      return;
    }
    HB_LOG_INFO(name + ": draining");
    self->Drain();
  };
  uv_signal_start(&sigterm_, on_stop, SIGTERM);
  uv_signal_start(&sigint_, on_stop, SIGINT);
  uv_signal_start(&sighup_, [](uv_signal_t* s, int) {
    CatchAll("reload", [&] { static_cast<App*>(s->data)->Reload(); });
  }, SIGHUP);
}

bool App::StartJobs() {
  JobsConfig jc;
  jc.max_queued = options_.jobs_max_queued;
  jc.max_running = options_.jobs_max_running;
  jc.keep_ms = options_.jobs_keep_ms;
  jc.keep_bytes = options_.jobs_keep_bytes;
  jc.state_dir = state_dir_;
  jobs_ = std::make_unique<JobsService>(
      &loop_, &router_, dispatcher_.get(), jc, [this](const Term& to, Term message) {
        if (!to.is_pid() || !node_) return;
        node_->Send(to.pid().node, MakeSend(to, std::move(message)));
      });
  return jobs_->Start();
}

bool App::StartMetricsHttp() {
  if (options_.metrics_port < 0) return true;
  http_ = std::make_unique<MetricsHttpServer>(&loop_, [this] { return RenderMetrics(); });
  Status s = http_->Start(options_.metrics_address, static_cast<uint16_t>(options_.metrics_port));
  if (!s.ok()) {
    HB_LOG_ERROR("cannot start: " + s.message());
    return false;
  }
  HB_LOG_INFO("Prometheus metrics on http://" + options_.metrics_address + ":" +
              std::to_string(http_->port()) + "/metrics");
  return true;
}

void App::OnNodeReady(Status s) {
  if (!s.ok()) {
    HB_LOG_ERROR("cannot start: " + s.message());
    FinishShutdown(1);
    return;
  }
  server_ = std::make_unique<RpcServer>(
      node_->node_name(), node_->creation(), dispatcher_.get(),
      [this](const std::string& n, const ControlMessage& m) { return node_->Send(n, m); });
  server_->set_limits(options_.max_inflight_per_peer, options_.max_inflight_total, &metrics_);
  StartCluster();
  std::string line = ServingLine();
  HB_LOG_INFO("hornbeamd " + std::string(HB_VERSION) + " " + line);
  notifier_->Ready(line);
  notifier_->StartWatchdog();
}

void App::StartCluster() {
  server_->set_peers([this] { return node_->Peers(); });
  ClusterOptions co;
  co.visible = !options_.hidden;
  co.pg_scope = options_.pg_scope;
  co.model_process_prefix = options_.model_process_prefix;
  co.global_groups = options_.global_groups;
  cluster_ = std::make_unique<Cluster>(server_.get(), &router_, co);
  cluster_->Start();
  std::vector<std::string> serving;
  for (const auto& m : models_->All()) serving.push_back(m->name);
  cluster_->SetModels(serving);
  models_->set_on_serving([this](const std::vector<std::string>& names) {
    if (cluster_ && !draining_) cluster_->SetModels(names);
  });
}

std::string App::ServingLine() const {
  return "serving as '" + node_->node_name() + "' on port " + std::to_string(node_->port()) +
         " with " + std::to_string(pool_->threads()) + " workers";
}

void App::Reload() {
  if (draining_) return;
  HB_LOG_INFO("SIGHUP: reloading configuration, models and plugins");
  notifier_->Reloading("reloading");
  if (!options_.config_path.empty()) {
    Result<Options> parsed = ParseCommandLine(options_);
    if (!parsed.ok()) {
      HB_LOG_ERROR("reload refused, configuration unchanged: " + parsed.status().message());
      notifier_->Ready("reload refused: " + parsed.status().message());
      return;
    }
    ApplyReloaded(*parsed);
  }
  models_->Reload(options_.models, options_.routes, [this] {
    if (!draining_) notifier_->Ready("reloaded; " + ServingLine());
  });
}

Result<Options> App::ParseCommandLine(const Options& o) {
  std::vector<std::string> args = o.command_line;
  if (args.empty()) args = {"hornbeamd", "--config", o.config_path};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  return ParseOptions(static_cast<int>(argv.size()), argv.data());
}

void App::ApplyReloaded(const Options& wanted) {
  config::ReloadPlan plan = config::PlanReload(options_, wanted);
  ReloadTls(&plan);
  // The node's identity, sockets, tick time and thread count are fixed for
  // its life: say which keys wait for a restart, apply the rest.
  if (!plan.restart_keys.empty()) {
    std::string keys;
    for (const std::string& k : plan.restart_keys) keys += (keys.empty() ? "" : ", ") + k;
    HB_LOG_WARN("reload: " + keys + " cannot change while running; restart to apply " +
                "(models, routes, limits and log level are applied now)");
  }
  LogLevel level;
  if (plan.applied.log_level != options_.log_level &&
      ParseLogLevel(plan.applied.log_level, &level)) {
    SetLogLevel(level);
    HB_LOG_INFO("log level now " + plan.applied.log_level);
  }
  options_ = std::move(plan.applied);
  // Limits: the wire's from the next packet or connection, in-flight limits
  // from the next call, the drain grace from the next SIGTERM.
  DistConfig limits = node_->config();
  SetDistLimits(options_, &limits);
  node_->UpdateLimits(limits);
  if (server_) {
    server_->set_limits(options_.max_inflight_per_peer, options_.max_inflight_total, &metrics_);
  }
}

void App::ReloadTls(config::ReloadPlan* plan) {
  TlsOptions& want = plan->applied.tls;
  if (want.enabled != options_.tls.enabled) {
    // A node serves TLS or TCP for its life, as in OTP.
    plan->restart_keys.emplace_back("tls");
    want = options_.tls;
    return;
  }
  if (!want.enabled) return;
  // Always rebuilt: the files may have changed even when the paths did not.
  Result<std::shared_ptr<const TlsContext>> tls = BuildTlsContext(want);
  if (!tls.ok()) {
    HB_LOG_ERROR("reload: TLS settings kept as they were: " + tls.status().message());
    want = options_.tls;
    return;
  }
  node_->SetTlsContext(*tls);
  HB_LOG_INFO("reload: new TLS connections use " + want.certfile +
              "; open connections keep their session");
}

void App::Drain() {
  draining_ = true;
  if (server_) server_->set_draining(true);
  // Model processes exit and the pg scope with them: peers stop finding
  // this node before it stops answering.
  if (cluster_) cluster_->Stop();
  uint64_t inflight = dispatcher_->inflight();
  notifier_->Stopping("draining " + std::to_string(inflight) + " call(s)");
  drain_deadline_ms_ = uv_now(&loop_) + uint64_t{options_.drain_timeout_s} * 1000;
  uv_timer_start(&drain_timer_, [](uv_timer_t* t) {
    auto* self = static_cast<App*>(t->data);
    // Jobs do not hold the drain: the next start reports them interrupted.
    size_t jobs = self->jobs_ ? self->jobs_->running() : 0;
    size_t inflight = self->dispatcher_->inflight();
    size_t left = inflight > jobs ? inflight - jobs : 0;
    if (left == 0) {
      HB_LOG_INFO("drained: no call in flight");
      self->FinishShutdown(0);
    } else if (uv_now(&self->loop_) >= self->drain_deadline_ms_) {
      HB_LOG_WARN("drain grace period over with " + std::to_string(left) +
                  " call(s) in flight; stopping");
      self->FinishShutdown(0);
    }
  }, 0, 20);
}

void App::FinishShutdown(int code) {
  if (stopping_) return;
  stopping_ = true;
  exit_code_ = code;
  if (notifier_) notifier_->Close();
  if (http_) http_->Stop();
  auto close = [](uv_handle_t* h) {
    if (h->loop && !uv_is_closing(h) && h->type != UV_UNKNOWN_HANDLE) uv_close(h, nullptr);
  };
  // Handles that Start() may not have reached are closed only if initialised.
  if (drain_timer_.loop == &loop_) {
    close(reinterpret_cast<uv_handle_t*>(&drain_timer_));
    close(reinterpret_cast<uv_handle_t*>(&trim_timer_));
  }
  if (sigterm_.loop == &loop_) {
    close(reinterpret_cast<uv_handle_t*>(&sigterm_));
    close(reinterpret_cast<uv_handle_t*>(&sigint_));
    close(reinterpret_cast<uv_handle_t*>(&sighup_));
  }
  auto after_node = [this] {
    auto after_models = [this] {
      auto after_jobs = [this] {
        if (dispatcher_) dispatcher_->Close([this] { pool_->Shutdown(); });
      };
      if (jobs_) {
        jobs_->Close(after_jobs);
      } else {
        after_jobs();
      }
    };
    if (models_) {
      models_->Close(after_models);
    } else {
      after_models();
    }
  };
  if (node_) {
    node_->Stop(after_node);
  } else {
    after_node();
  }
}

std::string App::RenderMetrics() const {
  PrometheusInputs in;
  in.version = HB_VERSION;
  in.metrics = &metrics_;
  RegistrySnapshot models;
  if (models_) {
    models = models_->Snapshot(SnapshotDetail::kStats);
    in.models = &models;
  }
  in.dist = node_ ? &node_->stats() : nullptr;
  in.inflight = dispatcher_ ? dispatcher_->inflight() : 0;
  in.connections = node_ ? node_->connection_count() : 0;
  in.uptime_s = (uv_now(const_cast<uv_loop_t*>(&loop_)) - status_.started_ms) / 1000;
  in.draining = draining_;
  return RenderPrometheus(in);
}

}  // namespace hb
