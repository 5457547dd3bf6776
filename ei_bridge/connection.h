// Connection: one peer's TCP stream, from accept to close. Internal to
// ei_bridge; DistNode owns every Connection.
//
// Life: accepted -> [TLS handshake, when the node serves TLS] -> handshake
// (2-byte packets, 4-byte inside TLS as inet_tls_dist; HandshakeAcceptor; one
// deadline timer covers both handshakes) -> up (4-byte packets, ticks, control messages) -> closing (libuv's
// two-step close of the socket and the timer) -> gone (DistNode deletes it).
//
// Thread: the loop thread only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>

#include "ei_bridge/control.h"
#include "ei_bridge/handshake.h"
#include "ei_bridge/packet_reader.h"
#include "ei_bridge/tls_session.h"

namespace hb {

class DistNode;

class Connection {
 public:
  Connection(DistNode* node, uv_loop_t* loop);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  uv_tcp_t* tcp() { return &tcp_; }
  // After uv_accept: records the remote address, starts reading and the
  // handshake deadline.
  void Begin();
  bool SendControl(const ControlMessage& m);
  // Writes what was queued since the last flush (DistNode's check phase).
  void Flush();
  // Starts closing; idempotent. `why` goes into the log line.
  void Close(const std::string& why);

  bool up() const { return up_; }
  bool closing() const { return closing_; }
  const std::string& peer() const { return peer_; }
  uint64_t peer_flags() const { return peer_flags_; }
  uint32_t peer_creation() const { return peer_creation_; }
  const std::string& remote() const { return remote_; }
  // Null on a TCP connection; the version and cipher in health:check.
  const TlsSession* tls() const { return tls_.get(); }

 private:
  void OnRead(ssize_t n, const uv_buf_t* buf);
  // TLS below the framing: decrypts `cipher` into what PacketReader sees.
  // False when the connection closed.
  bool FeedTls(std::string_view cipher, std::string* plain);
  void CountTls(TlsOutcome o);
  // node_name_check: once the handshake names the peer (false: closed).
  bool CheckPeerCertificate();
  void OnHandshakePacket(const std::string& packet);
  void OnPacket(const std::string& packet);
  void OnTimer();
  void WritePacket(std::string_view body, size_t header_bytes);
  void WriteRaw(std::string data);
  void ScheduleFlush();
  void HandleClosed();
  std::string Who() const;

  DistNode* node_;
  uv_loop_t* loop_;
  uv_tcp_t tcp_;
  uv_timer_t timer_;
  int open_handles_ = 0;
  std::unique_ptr<HandshakeAcceptor> handshake_;
  std::shared_ptr<const TlsContext> tls_context_;  // null: plain TCP
  std::unique_ptr<TlsSession> tls_;
  bool tls_counted_ = false;   // this connection's outcome is in the metrics
  size_t handshake_header_bytes_ = 2;
  PacketReader reader_;
  bool up_ = false;
  bool closing_ = false;
  std::string peer_;
  std::string remote_;
  uint64_t peer_flags_ = 0;
  uint32_t peer_creation_ = 0;
  uint64_t last_read_ms_ = 0;
  bool wrote_since_tick_ = false;
  std::string out_;              // packets queued for this iteration's flush
  bool flush_scheduled_ = false;
  size_t queued_bytes_ = 0;
  int pending_writes_ = 0;
};

}  // namespace hb
