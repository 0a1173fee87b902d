// example_presence: "online" / "offline" presence with a last will.
//
//   example_presence --id lamp                       # presence/lamp = online, until Ctrl-C
//   mosquitto_sub -t 'presence/+' -v                 # presence/lamp online
//   kill -9 <pid of example_presence>                # presence/lamp offline (the will)
//
// How it works:
//  * CONNECT carries a will: presence/<id> = "offline", retained, QoS 1. The broker keeps it and
//    publishes it if the connection ends without a DISCONNECT: the process died, the network
//    went away, or nothing arrived for 1.5 keepalive intervals.
//  * Once connected, the client publishes presence/<id> = "online", retained, so that anyone who
//    subscribes later learns the current state at once. It does so on *every* connection: after
//    a lost connection the broker may already have published the will.
//  * On Ctrl-C or SIGTERM it publishes "offline" itself and then disconnects: a normal
//    DISCONNECT tells the broker to discard the will.
//
// Uses the asynchronous Client: one io_context, handlers for connection events, a signal_set for
// Ctrl-C. The client reconnects by itself (with backoff) when the broker goes away.
#include <csignal>
#include <cstdio>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "client/client.hpp"

namespace asio = boost::asio;
namespace hc = hermod::client;

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // one line at a time, even into a pipe
  hc::ClientOptions options;
  options.host = "127.0.0.1";
  std::string id = "lamp";
  int keepalive = 10;

  CLI::App app{"Announce online/offline presence on presence/<id>, with a last will for crashes."};
  app.add_option("--host", options.host, "broker host");
  app.add_option("--port", options.port, "broker port");
  app.add_option("--id", id, "device id: presence goes to presence/<id>");
  app.add_option("--keepalive", keepalive, "seconds; a silent link is declared dead after 1.5 times this")
      ->check(CLI::Range(1, 65535));
  CLI11_PARSE(app, argc, argv);

  const std::string topic = "presence/" + id;
  options.client_id = "presence-" + id;
  options.keep_alive = static_cast<std::uint16_t>(keepalive);
  options.will = hermod::mqtt::Will{.topic = topic, .payload = "offline", .qos = 1, .retain = true};

  asio::io_context io;
  auto client = hc::Client::create(io.get_executor(), options);
  int exit_code = 0;

  client->set_connected_handler([&](const hc::ConnectResult&) {
    client->async_publish({.topic = topic, .payload = "online", .qos = 1, .retain = true},
                          [&](std::error_code ec, const hc::PublishResult&) {
                            if (!ec) fmt::print("{} = online (will: offline)\n", topic);
                          });
  });
  client->set_disconnected_handler([](const hc::DisconnectInfo& d) {
    fmt::print("connection lost: {}{}\n", d.ec.message(), d.will_reconnect ? "; reconnecting" : "");
  });

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    // Leaving on purpose: say so ourselves, then DISCONNECT (which makes the broker drop the will).
    client->async_publish({.topic = topic, .payload = "offline", .qos = 1, .retain = true},
                          [&](std::error_code ec, const hc::PublishResult&) {
                            fmt::print("{} = offline{}\n", topic, ec ? " not published: " + ec.message() : "");
                            client->async_disconnect();
                          });
  });

  client->async_connect([&](std::error_code ec, const hc::ConnectResult&) {
    if (!ec) return;  // the connected handler above does the work
    fmt::print(stderr, "error: cannot connect to {}:{}: {}\n", options.host, options.port, ec.message());
    exit_code = 1;
    signals.cancel();  // nothing left to wait for: io.run() returns
  });

  io.run();  // until disconnected (or the first connection failed)
  return exit_code;
}
