// The broker's HTTP listener for operators, put together: the routes (health, admin API,
// metrics, dashboard) on one Server, configured by the [http] table. Built and driven by the
// main thread after the broker started; stopped after the broker stopped, so requests that
// were waiting on a worker are answered (a dropped Reply answers 500) before it goes.
#pragma once

#include <memory>

#include "broker/admin/admin.hpp"
#include "http/router.hpp"
#include "http/server.hpp"

namespace hermod::broker {
class Broker;
struct HttpConfig;
}  // namespace hermod::broker

namespace hermod::http {

class OperatorServer {
 public:
  // Null when [http] is not configured.
  static std::unique_ptr<OperatorServer> make(broker::Broker& broker);
  OperatorServer(broker::Broker& broker, const broker::HttpConfig& config);
  ~OperatorServer();

  // Binds and starts the server's thread; throws std::runtime_error naming the address.
  void start();
  void stop();
  std::uint16_t bound_port() const { return server_->bound_port(); }
  // After a reload (SIGHUP, the file check): the tokens and metrics_auth of the reloaded
  // configuration.
  void reloaded();

 private:
  broker::Broker& broker_;
  broker::admin::Admin admin_;
  Router router_;
  std::unique_ptr<Server> server_;
};

}  // namespace hermod::http
