#include "ei_bridge/epmd_client.h"

#include <cassert>
#include <cstdlib>

#include "base/byte_order.h"
#include "base/catch_all.h"
#include "base/log.h"

namespace hb {
namespace {

constexpr uint8_t kAlive2Req = 120;
constexpr uint8_t kAlive2Resp = 121;    // 16-bit creation (old epmd)
constexpr uint8_t kAlive2XResp = 118;   // 32-bit creation (OTP 23+)
constexpr uint8_t kHiddenNode = 72;
constexpr uint8_t kNormalNode = 77;
constexpr uint8_t kProtocolTcpIpv4 = 0;
constexpr uint16_t kHighestVersion = 6;
constexpr uint16_t kLowestVersion = 5;

struct WriteReq {
  uv_write_t req;
  std::string data;
};

}  // namespace

EpmdClient::EpmdClient(uv_loop_t* loop, Config config) : loop_(loop), config_(std::move(config)) {
  if (const char* p = getenv("ERL_EPMD_PORT")) config_.epmd_port = static_cast<uint16_t>(atoi(p));
  uv_timer_init(loop_, &retry_timer_);
  retry_timer_.data = this;
  open_handles_ = 1;
}

EpmdClient::~EpmdClient() { assert(open_handles_ == 0 && "EpmdClient destroyed before Close()"); }

void EpmdClient::Start(RegisteredFn first) {
  first_ = std::move(first);
  Connect();
}

void EpmdClient::Connect() {
  if (closing_) return;
  reply_.clear();
  tcp_ = new uv_tcp_t;
  uv_tcp_init(loop_, tcp_);
  tcp_->data = this;
  ++open_handles_;
  struct sockaddr_in addr;
  uv_ip4_addr(config_.epmd_host.c_str(), config_.epmd_port, &addr);
  connect_req_.data = this;
  int rc = uv_tcp_connect(&connect_req_, tcp_, reinterpret_cast<const sockaddr*>(&addr),
                          [](uv_connect_t* req, int status) {
                            auto* self = static_cast<EpmdClient*>(req->data);
                            self->OnConnected(status);
                          });
  if (rc != 0) Lost(std::string("connect: ") + uv_strerror(rc));
}

void EpmdClient::OnConnected(int status) {
  if (closing_) return;
  if (status != 0) {
    Lost(std::string("cannot reach epmd at ") + config_.epmd_host + ":" +
         std::to_string(config_.epmd_port) + ": " + uv_strerror(status));
    return;
  }
  std::string body;
  body.push_back(static_cast<char>(kAlive2Req));
  AppendBigEndian(&body, config_.listen_port, 2);
  body.push_back(static_cast<char>(config_.hidden ? kHiddenNode : kNormalNode));
  body.push_back(static_cast<char>(kProtocolTcpIpv4));
  AppendBigEndian(&body, kHighestVersion, 2);
  AppendBigEndian(&body, kLowestVersion, 2);
  AppendBigEndian(&body, static_cast<uint16_t>(config_.alive.size()), 2);
  body += config_.alive;
  AppendBigEndian(&body, 0, 2);  // no extra
  auto* w = new WriteReq;
  AppendBigEndian(&w->data, static_cast<uint16_t>(body.size()), 2);
  w->data += body;
  uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  uv_write(&w->req, reinterpret_cast<uv_stream_t*>(tcp_), &buf, 1,
           [](uv_write_t* req, int) { delete reinterpret_cast<WriteReq*>(req); });
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(tcp_),
      [](uv_handle_t*, size_t, uv_buf_t* b) {
        static char slab[256];  // loop thread only; replies are 8 bytes
        *b = uv_buf_init(slab, sizeof(slab));
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
        CatchAll("epmd read", [&] { static_cast<EpmdClient*>(s->data)->OnRead(n, b); });
      });
}

void EpmdClient::OnRead(ssize_t n, const uv_buf_t* buf) {
  if (closing_) return;
  if (n < 0) {
    Lost(registered_ ? "epmd closed the registration connection"
                     : std::string("epmd closed the connection: ") + uv_strerror(static_cast<int>(n)));
    return;
  }
  if (registered_) return;  // epmd sends nothing after the reply
  reply_.append(buf->base, static_cast<size_t>(n));
  if (reply_.size() < 2) return;
  uint8_t tag = static_cast<uint8_t>(reply_[0]);
  uint8_t result = static_cast<uint8_t>(reply_[1]);
  size_t need = tag == kAlive2XResp ? 6 : tag == kAlive2Resp ? 4 : 2;
  if (reply_.size() < need) return;
  if ((tag != kAlive2XResp && tag != kAlive2Resp) || result != 0) {
    std::string why = "epmd refused to register node name '" + config_.alive +
                      "' (result " + std::to_string(result) + "): is it already in use?";
    if (first_) {
      auto f = std::move(first_);
      first_ = nullptr;
      CloseSocket();
      f(Unavailable(why));
      return;
    }
    Lost(why);
    return;
  }
  uint32_t creation = static_cast<uint32_t>(ReadBigEndian(reply_, 2, need - 2));
  registered_ = true;
  ++registrations_;
  if (first_) {
    auto f = std::move(first_);
    first_ = nullptr;
    f(creation);
  } else {
    HB_LOG_INFO("re-registered with epmd as '" + config_.alive + "'");
  }
}

void EpmdClient::Lost(const std::string& why) {
  bool was = registered_;
  registered_ = false;
  CloseSocket();
  if (first_) {
    auto f = std::move(first_);
    first_ = nullptr;
    f(Unavailable(why));
    return;
  }
  if (was) HB_LOG_WARN(why + "; registration lost, retrying every " +
                       std::to_string(config_.retry_ms) + " ms");
  ScheduleRetry();
}

void EpmdClient::ScheduleRetry() {
  if (closing_) return;
  uv_timer_start(&retry_timer_, [](uv_timer_t* t) { static_cast<EpmdClient*>(t->data)->Connect(); },
                 config_.retry_ms, 0);
}

void EpmdClient::CloseSocket() {
  if (!tcp_) return;
  uv_close(reinterpret_cast<uv_handle_t*>(tcp_), [](uv_handle_t* h) {
    auto* self = static_cast<EpmdClient*>(h->data);
    delete reinterpret_cast<uv_tcp_t*>(h);
    --self->open_handles_;
    self->MaybeFinishClose();
  });
  tcp_ = nullptr;
}

void EpmdClient::Close(std::function<void()> on_closed) {
  closing_ = true;
  on_closed_ = std::move(on_closed);
  registered_ = false;
  CloseSocket();
  uv_close(reinterpret_cast<uv_handle_t*>(&retry_timer_), [](uv_handle_t* h) {
    auto* self = static_cast<EpmdClient*>(h->data);
    --self->open_handles_;
    self->MaybeFinishClose();
  });
}

void EpmdClient::MaybeFinishClose() {
  if (closing_ && open_handles_ == 0 && on_closed_) {
    auto f = std::move(on_closed_);
    on_closed_ = nullptr;
    f();
  }
}

}  // namespace hb
