#include "http/server.hpp"

#include <openssl/ssl.h>

#include <atomic>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "base/log.hpp"
#include "broker/auth/crypto.hpp"
#include "net/percent_encoding.hpp"
#include "net/tls.hpp"

namespace hermod::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using asio::awaitable;
using asio::use_awaitable;

namespace {

// Request line and headers together; a body has its own bound (ServerConfig::max_body_size).
constexpr std::uint32_t kHeaderLimit = 16 * 1024;

std::string endpoint_text(const tcp::endpoint& e) {
  const auto a = e.address();
  return (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" + std::to_string(e.port());
}

// What a handler's Reply hands back to the session waiting for it, across threads: the
// response is moved in on the server's thread (the Reply posts there), where the session reads it.
struct Pending {
  std::optional<Response> response;
  asio::steady_timer* waiter = nullptr;  // the session's timer while it waits; null once it stopped
};

}  // namespace

struct Server::Impl {
  Impl(ServerConfig c, const Router& r)
      : config(std::move(c)), router(r), metrics_auth(config.metrics_auth), tokens(config.admin_tokens) {}

  ServerConfig config;
  const Router& router;
  // Shared with every Reply, so one called (or dropped) after the server stopped still has an
  // io_context to post to.
  std::shared_ptr<asio::io_context> io = std::make_shared<asio::io_context>(1);
  std::optional<tcp::acceptor> acceptor;
  std::unique_ptr<asio::ssl::context> tls;
  std::shared_ptr<const net::TlsContext> tls_context;
  std::thread thread;
  std::uint32_t open_connections = 0;  // server thread only
  std::atomic<std::uint16_t> port{0};

  std::atomic<bool> metrics_auth;  // config.metrics_auth as last reloaded
  std::mutex tokens_mutex;
  std::map<std::string, std::string> tokens;

  // The name of the token `authorization` carries, or empty.
  std::string caller_of(std::string_view authorization) {
    constexpr std::string_view kScheme = "Bearer ";
    if (authorization.size() <= kScheme.size()) return {};
    // The scheme is case-insensitive (RFC 9110 section 11.1).
    for (std::size_t i = 0; i < kScheme.size(); ++i) {
      if (std::tolower(static_cast<unsigned char>(authorization[i])) !=
          std::tolower(static_cast<unsigned char>(kScheme[i]))) {
        return {};
      }
    }
    std::string given(authorization.substr(kScheme.size()));
    while (!given.empty() && given.back() == ' ') given.pop_back();
    std::lock_guard lock(tokens_mutex);
    std::string found;
    for (const auto& [name, token] : tokens) {
      // Constant time for tokens of the same length, and no early exit: a wrong token's answer
      // says nothing of how much of it, or of which token, matched.
      if (broker::auth::equal_constant_time(given, token)) found = name;
    }
    return found;
  }

  Request to_request(bhttp::request<bhttp::string_body>& m, const std::string& remote) {
    Request r;
    r.method = std::string(m.method_string());
    const auto raw_target = m.target();
    const std::string_view target(raw_target.data(), raw_target.size());
    const auto q = target.find('?');
    r.path = std::string(target.substr(0, q));
    if (q != std::string_view::npos) {
      std::string_view rest = target.substr(q + 1);
      while (!rest.empty()) {
        const auto amp = rest.find('&');
        const auto part = rest.substr(0, amp);
        const auto eq = part.find('=');
        auto name = net::percent_decode(part.substr(0, eq), true);
        auto value = net::percent_decode(eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1), true);
        if (!name || !value) {
          r.bad_query = true;
        } else if (!name->empty()) {
          r.query.emplace_back(std::move(*name), std::move(*value));
        }
        if (amp == std::string_view::npos) break;
        rest = rest.substr(amp + 1);
      }
    }
    for (const auto& f : m) {
      std::string name(f.name_string());
      for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      r.headers.emplace_back(std::move(name), std::string(f.value()));
    }
    r.body = std::move(m.body());
    r.remote = remote;
    return r;
  }

  // Runs the route for `req` and waits for its Reply (at most request_timeout seconds).
  awaitable<Response> answer(Request& req) {
    const auto match = router.find(req.method, req.path);
    if (!match.handler) {
      co_return match.path_known ? error_response("method_not_allowed", req.method + " is not allowed on " + req.path)
                                 : error_response("not_found", "no such path: " + req.path);
    }
    const bool needs_token = match.access == Access::admin || (match.access == Access::metrics && metrics_auth.load(std::memory_order_relaxed));
    if (needs_token) {
      const auto auth = req.header("authorization");
      req.caller = auth ? caller_of(*auth) : std::string{};
      if (req.caller.empty()) {
        auto r = error_response("unauthorized", auth ? "the bearer token is not one of http.admin_tokens"
                                                     : "this path needs Authorization: Bearer TOKEN");
        r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"hermod\"");
        co_return r;
      }
    }
    if (req.bad_query) co_return error_response("bad_request", "malformed percent-encoding in the query string");
    auto pending = std::make_shared<Pending>();
    asio::steady_timer timer(*io);
    timer.expires_after(std::chrono::seconds(config.request_timeout));
    pending->waiter = &timer;
    std::weak_ptr<asio::io_context> weak_io = io;
    Reply reply([pending, weak_io](Response r) mutable {
      auto io = weak_io.lock();
      if (!io) return;
      asio::post(*io, [pending = std::move(pending), r = std::move(r)]() mutable {
        if (!pending->waiter) return;  // the session gave up waiting (timeout) or went away
        pending->response = std::move(r);
        pending->waiter->cancel();
      });
    });
    try {
      (*match.handler)(req, std::move(reply));
    } catch (const std::exception& e) {
      logger("http")->error("{} {} {}: handler failed: {}", req.remote, req.method, req.path, e.what());
      pending->waiter = nullptr;
      co_return error_response("internal", "the handler failed");
    }
    if (!pending->response) {
      boost::system::error_code ec;
      co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
    }
    pending->waiter = nullptr;
    if (!pending->response) co_return error_response("timeout", "no answer within http.request_timeout");
    co_return std::move(*pending->response);
  }

  template <class Stream>
  awaitable<void> serve(Stream& stream, beast::tcp_stream& tcp_layer, std::string remote) {
    beast::flat_buffer buffer;
    bool first = true;
    for (;;) {
      // Between requests a kept-alive connection may be idle longer than a request may take.
      tcp_layer.expires_after(std::chrono::seconds(first ? config.request_timeout : config.idle_timeout));
      first = false;
      bhttp::request_parser<bhttp::string_body> parser;
      parser.header_limit(kHeaderLimit);
      parser.body_limit(config.max_body_size);
      boost::system::error_code ec;
      co_await bhttp::async_read(stream, buffer, parser, asio::redirect_error(use_awaitable, ec));
      if (ec == bhttp::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset) co_return;
      if (ec == beast::error::timeout || ec == asio::error::operation_aborted) co_return;
      Response resp;
      bool keep_alive = false;
      unsigned version = 11;
      std::string method = "?";
      std::string path = "?";
      if (ec == bhttp::error::body_limit) {
        resp = error_response("payload_too_large", "the body is larger than http.max_body_size (" +
                                                       std::to_string(config.max_body_size) + " bytes)");
      } else if (ec == bhttp::error::header_limit) {
        resp = error_response("bad_request", "request line and headers larger than 16 KiB");
        resp.status = 431;
      } else if (ec) {
        resp = error_response("bad_request", "malformed HTTP request: " + ec.message());
      } else {
        auto& m = parser.get();
        keep_alive = m.keep_alive();
        version = m.version();
        Request req = to_request(m, remote);
        method = req.method;
        path = req.path;
        tcp_layer.expires_never();  // the handler's own timeout applies while it runs
        resp = co_await answer(req);
        logger("http")->debug("{} {} {} -> {}", remote, method, path, resp.status);
      }
      bhttp::response<bhttp::string_body> out{static_cast<bhttp::status>(resp.status), version};
      out.set(bhttp::field::server, std::string("hermod/") + HERMOD_VERSION);
      out.set(bhttp::field::content_type, resp.content_type);
      for (auto& [k, v] : resp.headers) out.set(k, v);
      out.keep_alive(keep_alive);
      out.body() = std::move(resp.body);
      out.prepare_payload();
      tcp_layer.expires_after(std::chrono::seconds(config.request_timeout));
      co_await bhttp::async_write(stream, out, asio::redirect_error(use_awaitable, ec));
      if (ec || !keep_alive) co_return;
    }
  }

  awaitable<void> connection(tcp::socket socket) {
    boost::system::error_code ec;
    const auto peer = socket.remote_endpoint(ec);
    const std::string remote = ec ? std::string("?") : endpoint_text(peer);
    if (open_connections >= config.max_connections) {
      // Told, not silently dropped: a monitoring system sees why its scrape failed.
      beast::tcp_stream s(std::move(socket));
      bhttp::response<bhttp::string_body> out{bhttp::status::service_unavailable, 11};
      const auto e = error_response("unavailable", "too many HTTP connections (http.max_connections)");
      out.set(bhttp::field::content_type, e.content_type);
      out.keep_alive(false);
      out.body() = e.body;
      out.prepare_payload();
      s.expires_after(std::chrono::seconds(2));
      co_await bhttp::async_write(s, out, asio::redirect_error(use_awaitable, ec));
      co_return;
    }
    ++open_connections;
    struct Count {
      std::uint32_t& n;
      ~Count() { --n; }
    } count{open_connections};
    beast::tcp_stream tcp_layer(std::move(socket));
    if (!tls) {
      co_await serve(tcp_layer, tcp_layer, remote);
      tcp_layer.socket().shutdown(tcp::socket::shutdown_send, ec);
      co_return;
    }
    beast::ssl_stream<beast::tcp_stream&> tls_layer(tcp_layer, *tls);
    tcp_layer.expires_after(std::chrono::seconds(config.request_timeout));
    co_await tls_layer.async_handshake(asio::ssl::stream_base::server, asio::redirect_error(use_awaitable, ec));
    if (ec) {
      logger("http")->debug("{}: TLS handshake failed: {}", remote, ec.message());
      co_return;
    }
    co_await serve(tls_layer, tcp_layer, remote);
    tcp_layer.expires_after(std::chrono::seconds(2));
    co_await tls_layer.async_shutdown(asio::redirect_error(use_awaitable, ec));
  }

  awaitable<void> accept_loop() {
    for (;;) {
      boost::system::error_code ec;
      tcp::socket socket = co_await acceptor->async_accept(asio::redirect_error(use_awaitable, ec));
      if (ec == asio::error::operation_aborted) co_return;
      if (ec) {
        // Out of descriptors and the like: wait a little instead of spinning.
        logger("http")->warn("accept on {}:{} failed: {}", config.bind, port.load(), ec.message());
        asio::steady_timer t(*io, std::chrono::milliseconds(100));
        co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
        continue;
      }
      socket.set_option(tcp::no_delay(true), ec);
      asio::co_spawn(*io, connection(std::move(socket)), asio::detached);
    }
  }
};

Server::Server(ServerConfig config, const Router& router) : impl_(std::make_unique<Impl>(std::move(config), router)) {}

Server::~Server() {
  stop();
  // The connections' coroutines, suspended in the stopped io_context, go now, while the state
  // they refer to (the connection count) still exists; a Reply called later finds no io_context.
  impl_->acceptor.reset();
  impl_->io.reset();
}

void Server::start() {
  auto& c = impl_->config;
  if (c.tls) {
    std::string error;
    impl_->tls_context = net::TlsContext::load(c.tls_settings, error);
    if (!impl_->tls_context) throw std::runtime_error("HTTP listener " + c.bind + ":" + std::to_string(c.port) + ": " + error);
    SSL_CTX_up_ref(impl_->tls_context->native());  // asio's context frees its handle
    impl_->tls = std::make_unique<asio::ssl::context>(impl_->tls_context->native());
  }
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(c.bind, ec);
  if (ec) throw std::runtime_error("HTTP listener: bad bind address \"" + c.bind + "\"");
  const tcp::endpoint ep(address, c.port);
  auto& acc = impl_->acceptor.emplace(*impl_->io);
  acc.open(ep.protocol(), ec);
  if (!ec) acc.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acc.bind(ep, ec);
  if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error("HTTP listener " + endpoint_text(ep) + ": " + ec.message());
  impl_->port = acc.local_endpoint().port();
  asio::co_spawn(*impl_->io, impl_->accept_loop(), asio::detached);
  impl_->thread = std::thread([io = impl_->io] { io->run(); });
  logger("broker")->info("listening on {} (http{})", endpoint_text(tcp::endpoint(address, impl_->port)),
                         c.tls ? "s" : "");
}

void Server::stop() {
  if (!impl_->thread.joinable()) return;
  asio::post(*impl_->io, [this] {
    boost::system::error_code ec;
    if (impl_->acceptor) impl_->acceptor->close(ec);
  });
  impl_->io->stop();
  impl_->thread.join();
}

std::uint16_t Server::bound_port() const { return impl_->port.load(); }

void Server::set_access(std::map<std::string, std::string> tokens, bool metrics_auth) {
  {
    std::lock_guard lock(impl_->tokens_mutex);
    impl_->tokens = std::move(tokens);
  }
  impl_->metrics_auth.store(metrics_auth, std::memory_order_relaxed);
}

}  // namespace hermod::http
