#include "daemon/metrics_http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>

#include <chrono>
#include <cstring>

#include "base/catch_all.h"

namespace hb {
namespace {

MHD_Result Handle(void* cls, MHD_Connection* conn, const char* url, const char* method,
                  const char*, const char*, size_t*, void**) {
  auto* self = static_cast<MetricsHttpServer*>(cls);
  if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
    static const char kMsg[] = "method not allowed\n";
    MHD_Response* r = MHD_create_response_from_buffer(sizeof(kMsg) - 1, const_cast<char*>(kMsg),
                                                      MHD_RESPMEM_PERSISTENT);
    MHD_Result rc = MHD_queue_response(conn, MHD_HTTP_METHOD_NOT_ALLOWED, r);
    MHD_destroy_response(r);
    return rc;
  }
  if (strcmp(url, "/metrics") != 0) {
    static const char kMsg[] = "not found: try /metrics\n";
    MHD_Response* r = MHD_create_response_from_buffer(sizeof(kMsg) - 1, const_cast<char*>(kMsg),
                                                      MHD_RESPMEM_PERSISTENT);
    MHD_Result rc = MHD_queue_response(conn, MHD_HTTP_NOT_FOUND, r);
    MHD_destroy_response(r);
    return rc;
  }
  std::string body;
  if (!CatchAll("metrics scrape", [&] { body = self->Scrape(); })) {
    return MHD_NO;  // MHD closes the connection
  }
  MHD_Response* r =
      MHD_create_response_from_buffer(body.size(), body.data(), MHD_RESPMEM_MUST_COPY);
  MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
  MHD_Result rc = MHD_queue_response(conn, MHD_HTTP_OK, r);
  MHD_destroy_response(r);
  return rc;
}

}  // namespace

MetricsHttpServer::MetricsHttpServer(uv_loop_t* loop, std::function<std::string()> render)
    : loop_(loop), render_(std::move(render)) {}

MetricsHttpServer::~MetricsHttpServer() { Stop(); }

Status MetricsHttpServer::Start(const std::string& address, uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (inet_pton(AF_INET, address.c_str(), &addr.sin_addr) != 1) {
    return InvalidArgument("metrics address '" + address + "' is not an IPv4 address");
  }
  uv_async_init(loop_, &async_, [](uv_async_t* a) {
    CatchAll("metrics render", [&] { static_cast<MetricsHttpServer*>(a->data)->RenderOnLoop(); });
  });
  async_.data = this;
  async_open_ = true;
  mhd_ = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, port, nullptr,
                          nullptr, &Handle, this, MHD_OPTION_SOCK_ADDR, &addr,
                          MHD_OPTION_CONNECTION_LIMIT, 64u, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
                          MHD_OPTION_END);
  if (mhd_ == nullptr) {
    Stop();
    return Unavailable("cannot serve metrics on " + address + ":" + std::to_string(port) +
                       " (port in use?)");
  }
  const MHD_DaemonInfo* info = MHD_get_daemon_info(mhd_, MHD_DAEMON_INFO_BIND_PORT);
  port_ = info ? info->port : port;
  return Status::Ok();
}

void MetricsHttpServer::Stop() {
  if (mhd_ != nullptr) {
    MHD_stop_daemon(mhd_);
    mhd_ = nullptr;
  }
  if (async_open_) {
    uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
    async_open_ = false;
  }
}

std::string MetricsHttpServer::Scrape() {
  MutexLock lock(&mu_);
  uint64_t want = ++requested_;
  uv_async_send(&async_);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (rendered_ < want && cv_.WaitUntil(&mu_, deadline)) {
  }
  return snapshot_;
}

void MetricsHttpServer::RenderOnLoop() {
  std::string text = render_();
  MutexLock lock(&mu_);
  snapshot_ = std::move(text);
  rendered_ = requested_;
  cv_.SignalAll();
}

}  // namespace hb
