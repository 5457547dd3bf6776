// DistNode: hornbeamd's presence in an Erlang cluster.
//
// Listens for peers, keeps the node registered with epmd, runs the accepting
// handshake for each connection, frames packets, answers and sends ticks,
// decodes control messages and hands them to a DistHandler. It knows nothing
// of calls or models: the daemon implements DistHandler and answers through
// Send().
//
// Threading: every method, and every DistHandler callback, runs on the one
// libuv loop thread that owns `loop`.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "ei_bridge/control.h"
#include "ei_bridge/term_validator.h"
#include "ei_bridge/tls_session.h"

namespace hb {

class Connection;
class EpmdClient;

struct DistConfig {
  std::string alive;                  // "gpu"
  std::string host;                   // "myhost" or "myhost.example.com"
  std::string cookie;
  std::string bind_address = "0.0.0.0";
  uint16_t port = 0;                  // 0: ephemeral
  // Hidden (EPMD type 72, no DFLAG_PUBLISHED) or visible (77, PUBLISHED).
  bool hidden = false;
  uint32_t net_ticktime_ms = 60000;   // drop a peer silent this long
  uint32_t handshake_timeout_ms = 10000;
  size_t max_packet_bytes = 64u << 20;
  size_t max_connections = 1024;
  size_t max_write_queue_bytes = 256u << 20;  // slow reader: drop it
  TermLimits term_limits;
  // Optional allowlist check, by full peer node name.
  std::function<bool(std::string_view)> admit;
  // Serve TLS distribution (inet_tls_dist) with this context; null: TCP.
  // A node is one or the other for its life, as in OTP.
  std::shared_ptr<const TlsContext> tls;

  std::string node_name() const { return alive + "@" + host; }
};

struct PeerInfo {
  std::string node;
  uint64_t flags = 0;
  uint32_t creation = 0;
};

class DistHandler {
 public:
  virtual ~DistHandler() = default;
  virtual void OnPeerUp(const PeerInfo& peer) = 0;
  // The connection is gone (closed, reset, silent, replaced).
  virtual void OnPeerDown(const std::string& node) = 0;
  virtual void OnControl(const std::string& node, ControlMessage msg) = 0;
};

// A TLS peer's session, for health:check.
struct PeerTlsInfo {
  std::string node;
  std::string version;  // "TLSv1.3"
  std::string cipher;   // "TLS_AES_256_GCM_SHA384"
};

struct DistStats {
  uint64_t connections_accepted = 0;
  uint64_t handshakes_failed = 0;
  uint64_t bad_packets = 0;
  uint64_t refused_connection_limit = 0;
  uint64_t packets_in = 0;
  uint64_t packets_out = 0;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  // TLS handshakes by how they ended, indexed by TlsOutcome.
  uint64_t tls_handshakes[kTlsOutcomeCount] = {};
};

class DistNode {
 public:
  DistNode(uv_loop_t* loop, DistConfig config, DistHandler* handler);
  ~DistNode();
  DistNode(const DistNode&) = delete;
  DistNode& operator=(const DistNode&) = delete;

  // Binds the listener, registers with epmd and starts accepting. `ready` is
  // called once: ok when registered (the node is reachable), or the reason
  // the node cannot start (port in use, epmd unreachable, name taken).
  void Start(std::function<void(Status)> ready);

  // Closes the listener, every connection and the epmd registration; `done`
  // runs once every handle is closed.
  void Stop(std::function<void()> done);

  // Sends a control message to a connected peer. False when the peer is not
  // connected (the message is dropped, as the BEAM drops signals to a node
  // that is gone).
  bool Send(const std::string& node, const ControlMessage& msg);

  bool IsConnected(const std::string& node) const;
  uint64_t PeerFlags(const std::string& node) const;
  std::vector<std::string> Peers() const;
  // The TLS version and cipher of each connected peer (empty over TCP).
  std::vector<PeerTlsInfo> PeerTls() const;
  size_t connection_count() const { return connections_.size(); }

  const std::string& node_name() const { return node_name_; }
  uint32_t creation() const { return creation_; }
  uint16_t port() const { return port_; }
  const DistConfig& config() const { return config_; }
  const DistStats& stats() const { return stats_; }

  // Takes the limits of `limits` (handshake timeout, packet size,
  // connection and write-queue bounds, term limits, allowlist) while
  // serving, for a SIGHUP reload. Term limits and write-queue bounds apply
  // to every connection's next packet; the rest from the next connection
  // accepted (a connection keeps the packet size it started with). Name,
  // cookie, sockets and tick time are fixed for the node's life and ignored.
  void UpdateLimits(const DistConfig& limits);

  // The TLS context of connections accepted from now on (a SIGHUP's new
  // certificates); connections already open keep theirs. Ignored on a TCP
  // node: a node cannot switch between TCP and TLS.
  void SetTlsContext(std::shared_ptr<const TlsContext> tls);
  const std::shared_ptr<const TlsContext>& tls_context() const { return config_.tls; }

 private:
  friend class Connection;
  void OnNewConnection(int status);
  // Called by a Connection when its handshake finishes.
  bool OnHandshakeDone(Connection* c, bool replace_existing);
  // Called by a Connection once it starts closing (any reason).
  void OnConnectionClosing(Connection* c);
  // Called when a Connection's handles are all closed.
  void OnConnectionGone(Connection* c);
  void MaybeFinishStop();
  // Connections with queued output, flushed at the loop's check phase.
  void ScheduleFlush(Connection* c) { dirty_.push_back(c); }
  void FlushAll();

  uv_loop_t* loop_;
  DistConfig config_;
  DistHandler* handler_;
  std::string node_name_;
  uint32_t creation_ = 0;
  uint16_t port_ = 0;
  uv_tcp_t listener_;
  uv_check_t flush_check_;
  std::vector<Connection*> dirty_;
  bool check_closed_ = false;
  bool listening_ = false;
  bool stopping_ = false;
  std::unique_ptr<EpmdClient> epmd_;
  bool epmd_closed_ = false;
  bool listener_closed_ = false;
  std::function<void()> stop_done_;
  // Every live Connection object (handshaking or up), owned here.
  std::unordered_map<Connection*, std::unique_ptr<Connection>> all_;
  // Connections past the handshake, by peer node name.
  std::unordered_map<std::string, Connection*> connections_;
  DistStats stats_;
};

}  // namespace hb
