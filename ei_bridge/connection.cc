#include "ei_bridge/connection.h"

#include <openssl/rand.h>

#include <algorithm>
#include <cassert>

#include "base/byte_order.h"
#include "base/catch_all.h"
#include "base/log.h"
#include "ei_bridge/dist_flags.h"
#include "ei_bridge/dist_node.h"

namespace hb {
namespace {

// What a peer may have buffered with us before its TLS connection is up:
// the handshake's packets are a few hundred bytes.
constexpr size_t kMaxTlsHandshakeBuffer = 65535 + 4;

struct WriteReq {
  uv_write_t req;
  std::string data;
};

uint32_t RandomChallenge() {
  uint32_t c = 0;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&c), sizeof(c)) != 1) {
    // OpenSSL's CSPRNG does not fail on Linux once seeded; if it ever does,
    // a handshake without a random challenge must not proceed silently.
    HB_LOG_ERROR("RAND_bytes failed; using a weaker challenge");
    c = static_cast<uint32_t>(uv_hrtime());
  }
  return c;
}

}  // namespace

Connection::Connection(DistNode* node, uv_loop_t* loop)
    : node_(node),
      loop_(loop),
      tls_context_(node->tls_context()),
      handshake_header_bytes_(tls_context_ ? 4 : 2),
      reader_(handshake_header_bytes_, node->config().max_packet_bytes) {
  uv_tcp_init(loop_, &tcp_);
  tcp_.data = this;
  uv_timer_init(loop_, &timer_);
  timer_.data = this;
  open_handles_ = 2;
}

Connection::~Connection() { assert(open_handles_ == 0 && "Connection freed with open handles"); }

std::string Connection::Who() const {
  if (!peer_.empty()) return "peer '" + peer_ + "' (" + remote_ + ")";
  return "connection from " + remote_;
}

void Connection::Begin() {
  sockaddr_storage ss;
  int len = sizeof(ss);
  char ip[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (uv_tcp_getpeername(&tcp_, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    if (ss.ss_family == AF_INET) {
      auto* a = reinterpret_cast<sockaddr_in*>(&ss);
      uv_ip4_name(a, ip, sizeof(ip));
      port = ntohs(a->sin_port);
    } else if (ss.ss_family == AF_INET6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      uv_ip6_name(a, ip, sizeof(ip));
      port = ntohs(a->sin6_port);
    }
  }
  remote_ = std::string(ip) + ":" + std::to_string(port);
  uv_tcp_nodelay(&tcp_, 1);

  const DistConfig& cfg = node_->config();
  HandshakeConfig hc;
  hc.node_name = node_->node_name();
  hc.cookie = cfg.cookie;
  // PUBLISHED makes us a visible node (in the peer's nodes()); hidden nodes
  // leave it out, as erl -hidden does.
  hc.flags = dflag::kOurs | (cfg.hidden ? 0 : dflag::kPublished);
  hc.creation = node_->creation();
  hc.admit = cfg.admit;
  DistNode* node = node_;
  hc.is_connected = [node](std::string_view peer) { return node->IsConnected(std::string(peer)); };
  handshake_ = std::make_unique<HandshakeAcceptor>(std::move(hc), RandomChallenge());
  if (tls_context_) {
    Result<std::unique_ptr<TlsSession>> session = TlsSession::Accept(tls_context_);
    if (!session.ok()) {
      HB_LOG_ERROR(Who() + ": " + session.status().message());
      Close("no TLS session");
      return;
    }
    tls_ = std::move(session).value();
  }

  last_read_ms_ = uv_now(loop_);
  uv_timer_start(&timer_, [](uv_timer_t* t) { static_cast<Connection*>(t->data)->OnTimer(); },
                 cfg.handshake_timeout_ms, 0);
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&tcp_),
      [](uv_handle_t*, size_t, uv_buf_t* b) {
        // One slab for all connections: the loop thread copies every read
        // into the connection's PacketReader before the next read.
        static char slab[64 * 1024];
        *b = uv_buf_init(slab, sizeof(slab));
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
        auto* self = static_cast<Connection*>(s->data);
        // Whatever fails while handling this peer's bytes costs this
        // connection only.
        if (!CatchAll("connection read", [&] { self->OnRead(n, b); })) {
          CatchAll("connection close", [&] { self->Close("internal error"); });
        }
      });
}

void Connection::OnRead(ssize_t n, const uv_buf_t* buf) {
  if (closing_) return;
  if (n < 0) {
    Close(n == UV_EOF ? "closed by peer" : std::string("read error: ") + uv_strerror(static_cast<int>(n)));
    return;
  }
  if (n == 0) return;
  last_read_ms_ = uv_now(loop_);
  node_->stats_.bytes_in += static_cast<uint64_t>(n);
  std::string_view bytes(buf->base, static_cast<size_t>(n));
  if (tls_) {
    std::string plain;
    if (!FeedTls(bytes, &plain)) return;
    reader_.Append(plain);
    // Over TCP a handshake packet's 2-byte length caps it at 64 KiB; inside
    // TLS the length has 4 bytes, and nothing before the handshake ends may
    // make us buffer max_packet_bytes for a peer not yet authenticated.
    if (!up_ && reader_.buffered() > kMaxTlsHandshakeBuffer) {
      ++node_->stats_.bad_packets;
      ++node_->stats_.handshakes_failed;
      HB_LOG_WARN("handshake with " + Who() + " failed: handshake packet over " +
                  std::to_string(kMaxTlsHandshakeBuffer) + " bytes");
      Close("handshake packet too large");
      return;
    }
  } else {
    reader_.Append(bytes);
  }
  std::string packet;
  while (!closing_) {
    Result<bool> got = reader_.Next(&packet);
    if (!got.ok()) {
      ++node_->stats_.bad_packets;
      Close(got.status().message());
      return;
    }
    if (!*got) break;
    if (up_) {
      OnPacket(packet);
    } else {
      OnHandshakePacket(packet);
    }
  }
}

bool Connection::FeedTls(std::string_view cipher, std::string* plain) {
  bool was_done = tls_->handshake_done();
  Status s = tls_->Feed(cipher, plain);
  if (tls_->has_output()) ScheduleFlush();
  if (!s.ok()) {
    if (!was_done && !tls_->handshake_done()) {
      ++node_->stats_.handshakes_failed;
      CountTls(tls_->failure_outcome());
      HB_LOG_WARN("TLS handshake with " + Who() + " failed (" +
                  TlsOutcomeName(tls_->failure_outcome()) + "): " + s.message());
    }
    Close(s.message());
    return false;
  }
  if (!was_done && tls_->handshake_done()) {
    HB_LOG_DEBUG(Who() + ": " + tls_->version() + " with " + tls_->cipher());
    // With node_name_check the outcome waits for the name the peer claims.
    if (!tls_->context().settings().node_name_check) CountTls(TlsOutcome::kOk);
  }
  return true;
}

void Connection::CountTls(TlsOutcome o) {
  if (tls_counted_) return;
  tls_counted_ = true;
  ++node_->stats_.tls_handshakes[static_cast<int>(o)];
}

bool Connection::CheckPeerCertificate() {
  if (!tls_ || !tls_->context().settings().node_name_check || tls_counted_ || peer_.empty()) {
    return true;  // no check asked for, or already done
  }
  std::string host = peer_.substr(peer_.find('@') + 1);
  if (tls_->PeerNamesHost(host)) {
    CountTls(TlsOutcome::kOk);
    return true;
  }
  ++node_->stats_.handshakes_failed;
  CountTls(TlsOutcome::kNameMismatch);
  HB_LOG_WARN("refused " + Who() + ": its TLS certificate does not name host '" + host +
              "' (name_mismatch, node_name_check)");
  Close("certificate does not name the peer's host");
  return false;
}

void Connection::OnHandshakePacket(const std::string& packet) {
  Result<HandshakeAcceptor::Step> step = handshake_->OnPacket(packet);
  if (!handshake_->peer_name().empty()) peer_ = handshake_->peer_name();
  if (!step.ok()) {
    ++node_->stats_.handshakes_failed;
    HB_LOG_WARN("handshake with " + Who() + " failed: " + step.status().message());
    Close("handshake failed");
    return;
  }
  // Before anything is answered to the name the peer claims.
  if (!CheckPeerCertificate()) return;
  for (const std::string& out : step->out) WritePacket(out, handshake_header_bytes_);
  if (step->close_after_send) {
    ++node_->stats_.handshakes_failed;
    HB_LOG_WARN("refused " + Who() + ": " + step->refusal);
    Close("refused");
    return;
  }
  if (!step->done) return;
  peer_flags_ = handshake_->peer_flags();
  peer_creation_ = handshake_->peer_creation();
  handshake_.reset();
  // Up before the node announces it: OnPeerUp handlers may send at once
  // (the pg scope's discover), after the handshake's last packet.
  up_ = true;
  reader_.set_header_bytes(4);
  if (!node_->OnHandshakeDone(this, step->replace_existing)) {
    up_ = false;
    Close("duplicate connection");
    return;
  }
  // From now on the timer is the tick clock: a quarter of net_ticktime, as
  // the BEAM's own ticker.
  uint64_t period = std::max<uint64_t>(node_->config().net_ticktime_ms / 4, 1);
  uv_timer_start(&timer_, [](uv_timer_t* t) { static_cast<Connection*>(t->data)->OnTimer(); },
                 period, period);
  HB_LOG_INFO("peer '" + peer_ + "' connected from " + remote_);
}

void Connection::OnPacket(const std::string& packet) {
  ++node_->stats_.packets_in;
  if (packet.empty()) {
    // A tick. Answering it at once keeps peers with a small net_ticktime
    // satisfied whatever our own tick period is, as ei-based C nodes do.
    WriteRaw(std::string(4, '\0'));
    return;
  }
  Result<ControlMessage> m = DecodeControlPacket(packet, node_->config().term_limits);
  if (!m.ok()) {
    ++node_->stats_.bad_packets;
    if (m.status().code() == StatusCode::kNotFound) {
      HB_LOG_WARN(Who() + ": ignoring " + m.status().message());
      return;
    }
    // A peer that sends what the protocol cannot parse is broken or hostile;
    // the BEAM disconnects such a peer too. Other peers are unaffected.
    Close("malformed control message: " + m.status().message());
    return;
  }
  node_->handler_->OnControl(peer_, std::move(m).value());
}

void Connection::OnTimer() {
  if (closing_) return;
  if (!up_) {
    ++node_->stats_.handshakes_failed;
    HB_LOG_WARN("handshake with " + Who() + " timed out");
    Close("handshake timed out");
    return;
  }
  uint64_t now = uv_now(loop_);
  if (now - last_read_ms_ > node_->config().net_ticktime_ms) {
    Close("no data or tick for " + std::to_string((now - last_read_ms_) / 1000) +
          " s (net_ticktime)");
    return;
  }
  if (!wrote_since_tick_) WriteRaw(std::string(4, '\0'));
  wrote_since_tick_ = false;
}

bool Connection::SendControl(const ControlMessage& m) {
  if (!up_ || closing_) return false;
  Result<std::string> body = EncodeControlPacket(m);
  if (!body.ok()) {
    HB_LOG_ERROR("cannot encode " + std::string(ControlOpName(m.op)) + " for " + Who() + ": " +
                 body.status().message());
    return false;
  }
  ++node_->stats_.packets_out;
  WritePacket(*body, 4);
  return true;
}

void Connection::WritePacket(std::string_view body, size_t header_bytes) {
  if (closing_) return;
  size_t len = body.size();
  AppendBigEndian(&out_, len, header_bytes);
  out_.append(body);
  ScheduleFlush();
}

void Connection::WriteRaw(std::string data) {
  if (closing_) return;
  out_.append(data);
  ScheduleFlush();
}

void Connection::ScheduleFlush() {
  wrote_since_tick_ = true;
  // Everything written during one loop iteration (replies to all packets of
  // a read, completions drained from workers) leaves in one write at the
  // iteration's check phase: one syscall for many replies under load, and no
  // added latency, since the check phase comes before the loop sleeps again.
  if (!flush_scheduled_) {
    flush_scheduled_ = true;
    node_->ScheduleFlush(this);
  }
}

void Connection::Flush() {
  flush_scheduled_ = false;
  if (closing_) return;
  std::string data;
  if (tls_) {
    // Everything queued becomes records, plus any handshake message or
    // alert OpenSSL produced while reading.
    if (!out_.empty() && tls_->handshake_done()) {
      Status s = tls_->Write(out_);
      out_.clear();
      if (!s.ok()) {
        Close(s.message());
        return;
      }
    }
    data = tls_->TakeOutput();
  } else {
    data.swap(out_);
  }
  if (data.empty()) return;
  node_->stats_.bytes_out += data.size();
  if (pending_writes_ == 0) {
    // Most replies are small and the socket is writable: skip the request
    // allocation and the extra loop iteration.
    uv_buf_t b = uv_buf_init(data.data(), static_cast<unsigned>(data.size()));
    int n = uv_try_write(reinterpret_cast<uv_stream_t*>(&tcp_), &b, 1);
    if (n == static_cast<int>(data.size())) return;
    if (n > 0) {
      data.erase(0, static_cast<size_t>(n));
    } else if (n != UV_EAGAIN) {
      Close(std::string("write error: ") + uv_strerror(n));
      return;
    }
  }
  if (queued_bytes_ + data.size() > node_->config().max_write_queue_bytes) {
    Close("peer does not read: write queue over " +
          std::to_string(node_->config().max_write_queue_bytes) + " bytes");
    return;
  }
  auto* w = new WriteReq;
  w->data = std::move(data);
  w->req.data = this;
  queued_bytes_ += w->data.size();
  ++pending_writes_;
  uv_buf_t b = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&tcp_), &b, 1,
                    [](uv_write_t* req, int status) {
                      auto* w = reinterpret_cast<WriteReq*>(req);
                      auto* self = static_cast<Connection*>(req->data);
                      self->queued_bytes_ -= w->data.size();
                      --self->pending_writes_;
                      delete w;
                      if (status < 0 && status != UV_ECANCELED) {
                        self->Close(std::string("write error: ") + uv_strerror(status));
                      }
                    });
  if (rc != 0) {
    queued_bytes_ -= w->data.size();
    --pending_writes_;
    delete w;
    Close(std::string("write error: ") + uv_strerror(rc));
  }
}

void Connection::Close(const std::string& why) {
  if (closing_) return;
  std::string last;
  if (tls_) {
    // A queued reply as records, or the alert of a failed handshake.
    if (!out_.empty() && tls_->handshake_done()) (void)tls_->Write(out_);
    last = tls_->TakeOutput();
  } else {
    last.swap(out_);
  }
  if (!last.empty() && pending_writes_ == 0) {
    // Last words (a refusal status, a reply just queued): best effort.
    uv_buf_t b = uv_buf_init(last.data(), static_cast<unsigned>(last.size()));
    uv_try_write(reinterpret_cast<uv_stream_t*>(&tcp_), &b, 1);
  }
  out_.clear();
  closing_ = true;
  if (up_) {
    HB_LOG_INFO("peer '" + peer_ + "' disconnected: " + why);
  } else {
    HB_LOG_DEBUG(Who() + " closed during handshake: " + why);
  }
  node_->OnConnectionClosing(this);
  auto on_close = [](uv_handle_t* h) {
    auto* self = static_cast<Connection*>(h->data);
    if (--self->open_handles_ == 0) self->HandleClosed();
  };
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), on_close);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), on_close);
}

void Connection::HandleClosed() {
  // Last statement: DistNode deletes this object.
  node_->OnConnectionGone(this);
}

}  // namespace hb
