// App: the daemon's parts wired onto one libuv loop, and its life cycle.
//
//   Start   load models, listen, register with epmd, then READY=1
//   Reload  SIGHUP: re-read the configuration, reload models and plugins
//           (RELOADING=1 ... READY=1); what cannot change live is refused
//           with a logged reason; no connection is dropped
//   Drain   SIGTERM: new calls are refused with {hornbeamd, draining},
//           in-flight calls get drain_timeout_s to finish, then the node
//           unregisters from epmd, closes every connection and exits 0
//
// Thread: everything here runs on the loop thread.
#pragma once

#include <uv.h>

#include <memory>
#include <string>

#include "config/config.h"
#include "daemon/cluster.h"
#include "daemon/dispatcher.h"
#include "daemon/classifier_service.h"
#include "daemon/health_service.h"
#include "daemon/jobs_service.h"
#include "daemon/metrics.h"
#include "daemon/metrics_http.h"
#include "daemon/model_registry.h"
#include "daemon/router.h"
#include "daemon/rpc_server.h"
#include "daemon/systemd_notify.h"
#include "daemon/worker_pool.h"
#include "ei_bridge/dist_node.h"

namespace hb {

class App : public DistHandler {
 public:
  explicit App(Options options);
  ~App() override;
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  // Runs until shut down; returns the process exit code.
  int Run();

  // DistHandler: forwarded to the RpcServer once the node has its creation.
  void OnPeerUp(const PeerInfo& p) override;
  void OnPeerDown(const std::string& n) override;
  void OnControl(const std::string& n, ControlMessage m) override;

 private:
  bool Start();
  // Start's steps: health's view of the node, the models, timers and
  // signals, the Prometheus endpoint (false: cannot start).
  void WireStatus(const std::string& node_name);
  void LoadModels();
  void StartTimersAndSignals();
  bool StartMetricsHttp();
  // The `jobs` module; false: its state directory is unusable.
  bool StartJobs();
  void Reload();
  // The original command line again, with the configuration file re-read.
  static Result<Options> ParseCommandLine(const Options& o);
  // Applies what a reload can change; names in the log what it cannot.
  void ApplyReloaded(const Options& wanted);
  // The TLS part of a reload: a new context for new connections, or the
  // reason it was refused (the old settings then stay in `plan`).
  void ReloadTls(config::ReloadPlan* plan);
  // "serving as 'NODE' on port N with W workers", for STATUS= lines.
  std::string ServingLine() const;
  void Drain();
  void FinishShutdown(int code);
  std::string RenderMetrics() const;
  void OnNodeReady(Status s);
  // The global server, pg scope and model processes, once the node is up.
  void StartCluster();

  uv_loop_t loop_;
  Options options_;
  std::string plugin_dir_;
  Metrics metrics_;
  Router router_;
  std::unique_ptr<WorkerPool> pool_;
  std::unique_ptr<Dispatcher> dispatcher_;
  std::unique_ptr<JobsService> jobs_;
  std::unique_ptr<ClassifierService> classifiers_;
  std::string state_dir_;  // state_dir, else $STATE_DIRECTORY, else empty
  std::unique_ptr<DistNode> node_;
  std::unique_ptr<RpcServer> server_;
  std::unique_ptr<Cluster> cluster_;
  std::unique_ptr<ModelRegistry> models_;
  std::unique_ptr<MetricsHttpServer> http_;
  std::unique_ptr<SystemdNotifier> notifier_;
  NodeStatus status_;
  uv_signal_t sigterm_, sigint_, sighup_;
  uv_timer_t drain_timer_;
  uv_timer_t trim_timer_;
  uint64_t drain_deadline_ms_ = 0;
  bool draining_ = false;
  bool stopping_ = false;
  int exit_code_ = 0;
};

}  // namespace hb
