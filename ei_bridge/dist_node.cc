#include "ei_bridge/dist_node.h"

#include <algorithm>
#include <cassert>

#include "base/catch_all.h"
#include "base/log.h"
#include "ei_bridge/connection.h"
#include "ei_bridge/epmd_client.h"

namespace hb {

DistNode::DistNode(uv_loop_t* loop, DistConfig config, DistHandler* handler)
    : loop_(loop), config_(std::move(config)), handler_(handler),
      node_name_(config_.node_name()) {
  uv_tcp_init(loop_, &listener_);
  listener_.data = this;
  uv_check_init(loop_, &flush_check_);
  flush_check_.data = this;
  uv_check_start(&flush_check_, [](uv_check_t* c) { static_cast<DistNode*>(c->data)->FlushAll(); });
  // The check handle alone must not keep the loop running.
  uv_unref(reinterpret_cast<uv_handle_t*>(&flush_check_));
}

void DistNode::FlushAll() {
  // Connections are deleted only in the close phase, after this check
  // phase, so every pointer here is still valid (closing ones skip).
  std::vector<Connection*> batch;
  batch.swap(dirty_);
  for (Connection* c : batch) c->Flush();
}

DistNode::~DistNode() { assert(all_.empty() && "DistNode destroyed before Stop() finished"); }

void DistNode::Start(std::function<void(Status)> ready) {
  sockaddr_storage addr;
  int rc = uv_ip4_addr(config_.bind_address.c_str(), config_.port,
                       reinterpret_cast<sockaddr_in*>(&addr));
  if (rc != 0) {
    rc = uv_ip6_addr(config_.bind_address.c_str(), config_.port,
                     reinterpret_cast<sockaddr_in6*>(&addr));
  }
  if (rc != 0) {
    ready(InvalidArgument("bad listen address '" + config_.bind_address + "'"));
    return;
  }
  rc = uv_tcp_bind(&listener_, reinterpret_cast<const sockaddr*>(&addr), 0);
  if (rc == 0) {
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), 511, [](uv_stream_t* s, int status) {
      CatchAll("accept", [&] { static_cast<DistNode*>(s->data)->OnNewConnection(status); });
    });
  }
  if (rc != 0) {
    ready(Unavailable("cannot listen on " + config_.bind_address + ":" +
                      std::to_string(config_.port) + ": " + uv_strerror(rc)));
    return;
  }
  listening_ = true;
  sockaddr_storage bound;
  int len = sizeof(bound);
  uv_tcp_getsockname(&listener_, reinterpret_cast<sockaddr*>(&bound), &len);
  port_ = ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);

  EpmdClient::Config ec;
  ec.alive = config_.alive;
  ec.listen_port = port_;
  ec.hidden = config_.hidden;
  epmd_ = std::make_unique<EpmdClient>(loop_, ec);
  epmd_->Start([this, ready = std::move(ready)](Result<uint32_t> creation) {
    if (!creation.ok()) {
      ready(creation.status());
      return;
    }
    creation_ = *creation;
    HB_LOG_INFO("node '" + node_name_ + "' registered with epmd (port " + std::to_string(port_) +
                ", creation " + std::to_string(creation_) + ")");
    ready(Status::Ok());
  });
}

void DistNode::OnNewConnection(int status) {
  if (status < 0 || stopping_) return;
  auto conn = std::make_unique<Connection>(this, loop_);
  Connection* c = conn.get();
  all_.emplace(c, std::move(conn));
  if (uv_accept(reinterpret_cast<uv_stream_t*>(&listener_),
                reinterpret_cast<uv_stream_t*>(c->tcp())) != 0) {
    c->Close("accept failed");
    return;
  }
  ++stats_.connections_accepted;
  // A handshake that has not registered a creation yet cannot be answered:
  // nobody should find us before epmd does, but a port scan might.
  if (creation_ == 0) {
    c->Close("not registered yet");
    return;
  }
  if (all_.size() > config_.max_connections) {
    ++stats_.refused_connection_limit;
    HB_LOG_WARN("connection limit (" + std::to_string(config_.max_connections) +
                ") reached; refusing a new connection");
    c->Close("connection limit reached");
    return;
  }
  c->Begin();
}

void DistNode::UpdateLimits(const DistConfig& limits) {
  config_.handshake_timeout_ms = limits.handshake_timeout_ms;
  config_.max_packet_bytes = limits.max_packet_bytes;
  config_.max_connections = limits.max_connections;
  config_.max_write_queue_bytes = limits.max_write_queue_bytes;
  config_.term_limits = limits.term_limits;
  config_.admit = limits.admit;
}

void DistNode::SetTlsContext(std::shared_ptr<const TlsContext> tls) {
  if (!config_.tls || !tls) return;
  config_.tls = std::move(tls);
}

bool DistNode::OnHandshakeDone(Connection* c, bool replace_existing) {
  auto it = connections_.find(c->peer());
  if (it != connections_.end()) {
    if (!replace_existing) return false;
    it->second->Close("replaced by a new connection from the same node");
  }
  connections_[c->peer()] = c;
  handler_->OnPeerUp({c->peer(), c->peer_flags(), c->peer_creation()});
  return true;
}

void DistNode::OnConnectionClosing(Connection* c) {
  if (!c->up()) return;
  auto it = connections_.find(c->peer());
  if (it != connections_.end() && it->second == c) {
    connections_.erase(it);
    handler_->OnPeerDown(c->peer());
  }
}

void DistNode::OnConnectionGone(Connection* c) {
  dirty_.erase(std::remove(dirty_.begin(), dirty_.end(), c), dirty_.end());
  all_.erase(c);
  MaybeFinishStop();
}

bool DistNode::Send(const std::string& node, const ControlMessage& msg) {
  auto it = connections_.find(node);
  if (it == connections_.end()) return false;
  return it->second->SendControl(msg);
}

bool DistNode::IsConnected(const std::string& node) const { return connections_.count(node) > 0; }

uint64_t DistNode::PeerFlags(const std::string& node) const {
  auto it = connections_.find(node);
  return it == connections_.end() ? 0 : it->second->peer_flags();
}

std::vector<std::string> DistNode::Peers() const {
  std::vector<std::string> out;
  out.reserve(connections_.size());
  for (const auto& [name, c] : connections_) out.push_back(name);
  return out;
}

std::vector<PeerTlsInfo> DistNode::PeerTls() const {
  std::vector<PeerTlsInfo> out;
  for (const auto& [name, c] : connections_) {
    if (c->tls()) out.push_back({name, c->tls()->version(), c->tls()->cipher()});
  }
  return out;
}

void DistNode::Stop(std::function<void()> done) {
  stopping_ = true;
  stop_done_ = std::move(done);
  if (epmd_) {
    epmd_->Close([this] {
      epmd_closed_ = true;
      MaybeFinishStop();
    });
  } else {
    epmd_closed_ = true;
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&flush_check_), [](uv_handle_t* h) {
    auto* self = static_cast<DistNode*>(h->data);
    self->check_closed_ = true;
    self->MaybeFinishStop();
  });
  uv_close(reinterpret_cast<uv_handle_t*>(&listener_), [](uv_handle_t* h) {
    auto* self = static_cast<DistNode*>(h->data);
    self->listener_closed_ = true;
    self->MaybeFinishStop();
  });
  std::vector<Connection*> conns;
  for (auto& [c, owned] : all_) conns.push_back(c);
  for (Connection* c : conns) c->Close("node stopping");
}

void DistNode::MaybeFinishStop() {
  if (stopping_ && epmd_closed_ && listener_closed_ && check_closed_ && all_.empty() &&
      stop_done_) {
    epmd_.reset();
    auto f = std::move(stop_done_);
    stop_done_ = nullptr;
    f();
  }
}

}  // namespace hb
