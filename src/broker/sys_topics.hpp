// $SYS topics: broker statistics published as retained messages every `sys_interval` seconds,
// under the names Mosquitto uses so existing dashboards work. Runs on worker 0's thread.
#pragma once

#include <boost/asio/steady_timer.hpp>

namespace hermod::broker {

class Broker;
class Worker;

class SysTopics {
 public:
  SysTopics(Broker& broker, Worker& worker);
  // Publishes now and then every interval. Call on the worker's thread (or before it starts).
  void start();
  void stop();

 private:
  void publish_all();
  void schedule();

  Broker& broker_;
  Worker& worker_;
  boost::asio::steady_timer timer_;
};

}  // namespace hermod::broker
