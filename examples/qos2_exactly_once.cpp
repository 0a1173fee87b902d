// example_qos2_exactly_once: QoS 2 delivers each message exactly once; this shows the handshake
// and counts.
//
//   example_qos2_exactly_once --count 10
//
// Two clients on one io_context: a receiver subscribed at QoS 2 and a sender publishing --count
// numbered messages at QoS 2. Each message crosses two hops, each with a four-packet handshake:
//
//   sender   -> PUBLISH -> broker            broker -> PUBLISH -> receiver
//   sender   <- PUBREC  <- broker            broker <- PUBREC  <- receiver   (message stored)
//   sender   -> PUBREL  -> broker            broker -> PUBREL  -> receiver   (release it)
//   sender   <- PUBCOMP <- broker            broker <- PUBCOMP <- receiver   (done, id free)
//
// A resent PUBLISH (DUP) whose id is still between PUBREC and PUBREL is the same message, so
// neither the broker nor the client delivers it twice, across reconnects too. The library does
// all of this: async_publish completes on PUBCOMP, and the message handler sees each message once.
// The program prints the packets of the first message (--trace: of every message), then checks
// that every publish completed and every message arrived exactly once (exit code 0) or not (1).
#include <cstdio>
#include <map>
#include <random>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "client/client.hpp"

namespace asio = boost::asio;
namespace hc = hermod::client;
namespace mqtt = hermod::mqtt;

namespace {

// Prints "who -> PUBREC (id 1)" for the QoS 2 packets of message id 1 (or of all, with `all`).
hc::Client::TraceHandler qos2_trace(std::string who, bool all) {
  return [who = std::move(who), all](bool outgoing, const mqtt::Packet& packet) {
    std::visit(
        [&](const auto& p) {
          using T = std::decay_t<decltype(p)>;
          if constexpr (std::is_same_v<T, mqtt::Publish> || std::is_same_v<T, mqtt::Pubrec> ||
                        std::is_same_v<T, mqtt::Pubrel> || std::is_same_v<T, mqtt::Pubcomp>) {
            if (!all && p.packet_id != 1) return;
            fmt::print("  {:<8} {} {:<7} (packet id {})\n", who, outgoing ? "->" : "<-",
                       mqtt::to_string(mqtt::type_of(packet)), p.packet_id);
          }
        },
        packet);
  };
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // one line at a time, even into a pipe
  hc::ClientOptions options;
  options.host = "127.0.0.1";
  int count = 10;
  bool trace_all = false;
  int timeout_s = 10;

  CLI::App app{"Publish messages at QoS 2 and check that each arrives exactly once."};
  app.add_option("--host", options.host, "broker host");
  app.add_option("--port", options.port, "broker port");
  app.add_option("--count", count, "messages to send")->check(CLI::PositiveNumber);
  app.add_flag("--trace", trace_all, "print the handshake of every message, not only the first");
  app.add_option("--timeout", timeout_s, "seconds before giving up")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  // A topic of our own, so that other programs on the broker do not disturb the count.
  const std::string topic = fmt::format("demo/exactly-once/{:08x}", std::random_device{}());

  asio::io_context io;
  hc::ClientOptions receiver_options = options;
  receiver_options.client_id = "qos2-receiver";
  hc::ClientOptions sender_options = options;
  sender_options.client_id = "qos2-sender";
  auto receiver = hc::Client::create(io.get_executor(), receiver_options);
  auto sender = hc::Client::create(io.get_executor(), sender_options);
  std::map<std::string, int> deliveries;  // payload -> times the receiver got it
  int received = 0;
  int receiver_pubcomps = 0;  // the receiver's side of the handshake finished
  int completed = 0;
  int failed = 0;
  asio::steady_timer deadline(io, std::chrono::seconds(timeout_s));

  bool finished = false;
  auto finish = [&] {
    if (finished) return;
    finished = true;
    deadline.cancel();
    sender->async_disconnect();
    receiver->async_disconnect();
  };
  // Done when both hops have finished: every publish completed at the sender, and the receiver
  // has sent PUBCOMP for every message (leaving earlier would abandon its half of the handshake).
  auto maybe_done = [&] {
    if (completed + failed == count && received >= count && receiver_pubcomps >= received) finish();
  };

  sender->set_trace_handler(qos2_trace("sender", trace_all));
  receiver->set_trace_handler([&, print = qos2_trace("receiver", trace_all)](bool outgoing, const mqtt::Packet& p) {
    print(outgoing, p);
    if (outgoing && std::holds_alternative<mqtt::Pubcomp>(p)) {
      ++receiver_pubcomps;
      maybe_done();
    }
  });

  receiver->set_message_handler([&](const hc::Message& m) {
    ++deliveries[m.payload];
    ++received;
    maybe_done();
  });

  auto publish_all = [&] {
    for (int i = 1; i <= count; ++i) {
      sender->async_publish({.topic = topic, .payload = fmt::format("message {}", i), .qos = 2},
                            [&](std::error_code ec, const hc::PublishResult&) {
                              if (ec) ++failed;  // completes on PUBCOMP, or with an error
                              else ++completed;
                              maybe_done();
                            });
    }
  };

  receiver->async_connect([&](std::error_code ec, const hc::ConnectResult&) {
    if (ec) {
      fmt::print(stderr, "error: receiver cannot connect: {}\n", ec.message());
      return finish();
    }
    receiver->async_subscribe(topic, 2, [&](std::error_code ec, const hc::SubscribeResult& r) {
      if (ec || r.reasons.at(0) != mqtt::ReasonCode::granted_qos_2) {
        fmt::print(stderr, "error: subscription at QoS 2 not granted\n");
        return finish();
      }
      fmt::print("receiver subscribed to {} at QoS 2\n", topic);
      // Only now start the sender: messages published before the subscription would not reach us.
      sender->async_connect([&](std::error_code ec, const hc::ConnectResult&) {
        if (ec) {
          fmt::print(stderr, "error: sender cannot connect: {}\n", ec.message());
          return finish();
        }
        fmt::print("sender publishes {} messages at QoS 2; the handshake of the first:\n", count);
        publish_all();
      });
    });
  });
  deadline.async_wait([&](const boost::system::error_code& ec) {
    if (ec) return;
    fmt::print("timed out after {} s\n", timeout_s);
    finish();
  });

  io.run();

  int once = 0;
  int duplicated = 0;
  for (const auto& [payload, n] : deliveries) (n == 1 ? once : duplicated) += 1;
  const int missing = count - once - duplicated;
  fmt::print("sent {}: {} completed (PUBCOMP), {} failed\n", count, completed, failed);
  fmt::print("received {} distinct: {} exactly once, {} more than once, {} missing\n", deliveries.size(), once,
             duplicated, missing);
  const bool ok = completed == count && once == count;
  fmt::print("{}\n", ok ? "exactly once: OK" : "exactly once: FAILED");
  return ok ? 0 : 1;
}
