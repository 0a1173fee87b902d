#include "http/operator_server.hpp"

#include <map>

#include "broker/broker.hpp"
#include "http/admin_api.hpp"
#include "http/dashboard_routes.hpp"
#include "http/metrics_endpoint.hpp"

namespace hermod::http {

namespace {

std::map<std::string, std::string> tokens_of(const broker::HttpConfig& c) {
  return {c.admin_tokens.begin(), c.admin_tokens.end()};
}

ServerConfig server_config(const broker::HttpConfig& c) {
  ServerConfig s;
  s.bind = c.bind;
  s.port = c.port;
  s.tls = c.tls;
  s.tls_settings = c.tls_settings;
  s.admin_tokens = tokens_of(c);
  s.metrics_auth = c.metrics_auth;
  s.max_connections = c.max_connections;
  s.max_body_size = c.max_body_size;
  s.request_timeout = c.request_timeout;
  s.idle_timeout = c.idle_timeout;
  return s;
}

}  // namespace

std::unique_ptr<OperatorServer> OperatorServer::make(broker::Broker& broker) {
  if (!broker.config().http.enabled) return nullptr;
  return std::make_unique<OperatorServer>(broker, broker.config().http);
}

OperatorServer::OperatorServer(broker::Broker& broker, const broker::HttpConfig& config)
    : broker_(broker), admin_(broker) {
  add_admin_routes(router_, broker_, admin_, [this] {
    auto problems = broker_.reload();
    reloaded();
    return problems;
  });
  add_dashboard_routes(router_);
  add_metrics_route(router_, broker_, admin_);
  server_ = std::make_unique<Server>(server_config(config), router_);
}

OperatorServer::~OperatorServer() { stop(); }

void OperatorServer::start() { server_->start(); }

void OperatorServer::stop() { server_->stop(); }

void OperatorServer::reloaded() {
  const auto policy = broker_.policy_snapshot();
  server_->set_access(tokens_of(policy->config->http), policy->config->http.metrics_auth);
}

}  // namespace hermod::http
