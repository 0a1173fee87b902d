// The HTTP/1.1 listener for operators (metrics, health, admin API, dashboard): its own thread
// and io_context, so a slow or hostile HTTP client never delays a worker's MQTT traffic.
// Keep-alive, a bound on request header and body size, a timeout per request, a bound on open
// connections, optional TLS; admin routes need "Authorization: Bearer TOKEN" with one of the
// configured tokens (compared in constant time), and every error is a JSON body.
// start() and stop() are called from one thread (the main thread); handlers run on the server's.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "http/router.hpp"
#include "net/tls_settings.hpp"

namespace hermod::http {

struct ServerConfig {
  std::string bind = "127.0.0.1";
  std::uint16_t port = 8080;  // 0: any free port (bound_port() tells)
  bool tls = false;
  net::TlsSettings tls_settings;  // when tls
  std::map<std::string, std::string> admin_tokens;  // name -> token
  bool metrics_auth = false;  // /metrics needs a token too
  std::uint32_t max_connections = 256;
  std::uint64_t max_body_size = 1 << 20;  // bytes
  std::uint32_t request_timeout = 10;     // seconds to read a request and to answer it
  std::uint32_t idle_timeout = 60;        // seconds a kept-alive connection may wait between requests
};

class Server {
 public:
  Server(ServerConfig config, const Router& router);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds (throws std::runtime_error naming the address on failure) and starts the thread.
  void start();
  void stop();
  std::uint16_t bound_port() const;
  // New tokens and metrics_auth (a reload); taken by the next request.
  void set_access(std::map<std::string, std::string> tokens, bool metrics_auth);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hermod::http
