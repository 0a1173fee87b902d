// example_keepalive: keepalive tuning, and how a dead broker is noticed.
//
//   example_keepalive --keepalive 2                          # PINGREQ / PINGRESP every 2 s
//   example_keepalive --keepalive 2 --ping-timeout-ms 500    # declare the link dead sooner
//
// The keepalive K of CONNECT (seconds) promises "you will hear from me at least every K s":
//  * the broker closes a connection silent for 1.5 K, and publishes its will;
//  * the client sends PINGREQ when it has sent nothing, or heard nothing, for K, so an idle
//    link still carries a packet every K; if nothing answers within the ping timeout (default K)
//    the link is dead (a broker that hangs, a NAT that dropped the mapping, an unplugged
//    cable): the client closes it and reconnects. TCP alone can take many minutes to notice.
// Choosing K: small finds dead links fast, at the price of traffic and wake-ups (battery
// devices use minutes); below a NAT or firewall idle timeout it also keeps the mapping alive.
// 0 turns keepalive off. An MQTT 5 broker may impose its own value in CONNACK (server keep alive),
// which the client then uses.
//
// The program stays idle and prints each ping and answer with its time; stop the broker with
// `kill -STOP` to see the dead link found, and `kill -CONT` to see the reconnect.
// --pings N exits after N answered pings (0: until Ctrl-C).
#include <csignal>
#include <cstdio>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "client/client.hpp"

namespace asio = boost::asio;
namespace hc = hermod::client;
namespace mqtt = hermod::mqtt;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // one line at a time, even into a pipe
  hc::ClientOptions options;
  options.host = "127.0.0.1";
  options.client_id = "keepalive-demo";
  options.version = mqtt::ProtocolVersion::v5;
  int keepalive = 5;
  int ping_timeout_ms = 0;
  int pings = 0;

  CLI::App app{"Stay connected and idle, and show the keepalive pings."};
  app.add_option("--host", options.host, "broker host");
  app.add_option("--port", options.port, "broker port");
  app.add_option("--id", options.client_id, "client id");
  app.add_option("--keepalive", keepalive, "keepalive in seconds")->check(CLI::Range(1, 65535));
  app.add_option("--ping-timeout-ms", ping_timeout_ms, "wait this long for PINGRESP (0: the keepalive)");
  app.add_option("--pings", pings, "exit after this many answered pings (0: until Ctrl-C)");
  CLI11_PARSE(app, argc, argv);
  options.keep_alive = static_cast<std::uint16_t>(keepalive);
  options.ping_timeout = std::chrono::milliseconds(ping_timeout_ms);

  asio::io_context io;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  auto client = hc::Client::create(io.get_executor(), options);
  const auto start = Clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };
  Clock::time_point ping_sent;
  int answered = 0;
  int exit_code = 0;

  auto quit = [&] {
    signals.cancel();
    client->async_disconnect();
  };

  // The trace handler sees every packet; we print only the pings.
  client->set_trace_handler([&](bool outgoing, const mqtt::Packet& packet) {
    if (std::holds_alternative<mqtt::Pingreq>(packet) && outgoing) {
      ping_sent = Clock::now();
      fmt::print("{:7.2f} s  -> PINGREQ   (the link was quiet for a keepalive interval)\n", elapsed());
    } else if (std::holds_alternative<mqtt::Pingresp>(packet) && !outgoing) {
      const auto rtt = std::chrono::duration<double, std::milli>(Clock::now() - ping_sent).count();
      fmt::print("{:7.2f} s  <- PINGRESP  (round trip {:.1f} ms)\n", elapsed(), rtt);
      if (++answered == pings) quit();
    }
  });
  client->set_connected_handler([&](const hc::ConnectResult& r) {
    // The broker may override our keepalive (MQTT 5 server keep alive); the client follows it.
    const int in_force = r.props.server_keep_alive.value_or(keepalive);
    fmt::print("{:7.2f} s  connected, keepalive {} s{}\n", elapsed(), in_force,
               r.props.server_keep_alive ? " (set by the broker)" : "");
  });
  client->set_disconnected_handler([&](const hc::DisconnectInfo& d) {
    fmt::print("{:7.2f} s  connection lost: {}{}\n", elapsed(), d.ec.message(),
               d.will_reconnect ? "; reconnecting" : "");
  });

  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (!ec) quit();
  });
  client->async_connect([&](std::error_code ec, const hc::ConnectResult&) {
    if (!ec) return;
    fmt::print(stderr, "error: cannot connect to {}:{}: {}\n", options.host, options.port, ec.message());
    exit_code = 1;
    signals.cancel();
  });

  io.run();
  return exit_code;
}
