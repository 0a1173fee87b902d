// example_subscriber: subscribes with both MQTT wildcards and prints what arrives.
//
//   sensors/+/temperature   '+' stands for exactly one level: it matches sensors/kitchen/temperature
//                           but not sensors/kitchen/fridge/temperature nor sensors/temperature.
//   alerts/#                '#' stands for any number of levels, zero included, and must come
//                           last: it matches alerts, alerts/fire and alerts/fire/floor2.
//
//   example_subscriber                                    # the two filters above
//   example_subscriber --filter 'home/+/light/#'          # or your own (repeatable)
//   mosquitto_pub -t sensors/kitchen/temperature -m 21.5  # prints the message and its filter
//
// Uses SyncClient: subscribe() returns the broker's answer per filter (the granted QoS, or a
// refusal), and receive() waits for the next message. mqtt::topic_matches tells which of our
// filters a topic matched, by the same rules the broker applies.
//
// --count N exits after N messages (0: until Ctrl-C).
#include <csignal>
#include <cstdio>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "client/sync_client.hpp"
#include "mqtt/topic.hpp"

namespace hc = hermod::client;
namespace mqtt = hermod::mqtt;

namespace {

volatile std::sig_atomic_t stop_requested = 0;

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // one line at a time, even into a pipe
  hc::ClientOptions options;
  options.host = "127.0.0.1";
  std::vector<std::string> filters;
  int count = 0;
  int qos = 1;

  CLI::App app{"Subscribe with '+' and '#' and print every message with the filter it matched."};
  app.add_option("--host", options.host, "broker host");
  app.add_option("--port", options.port, "broker port");
  app.add_option("--filter", filters, "topic filter (repeatable; default sensors/+/temperature and alerts/#)");
  app.add_option("--count", count, "exit after this many messages (0: until Ctrl-C)");
  app.add_option("--qos", qos, "maximum QoS to receive at")->check(CLI::Range(0, 2));
  CLI11_PARSE(app, argc, argv);
  if (filters.empty()) filters = {"sensors/+/temperature", "alerts/#"};

  std::signal(SIGINT, [](int) { stop_requested = 1; });
  std::signal(SIGTERM, [](int) { stop_requested = 1; });

  try {
    hc::SyncClient client(options);
    client.connect();

    // One SUBSCRIBE with every filter; the broker answers with one reason code per filter.
    std::vector<mqtt::TopicSubscription> subs;
    for (const auto& f : filters) {
      mqtt::TopicSubscription s;
      s.filter = f;
      s.options.qos = static_cast<std::uint8_t>(qos);
      subs.push_back(std::move(s));
    }
    const auto granted = client.subscribe(std::move(subs));
    for (std::size_t i = 0; i < filters.size(); ++i) {
      const auto rc = granted.reasons.at(i);
      if (mqtt::is_failure(rc)) {
        fmt::print("subscription to {} refused: {}\n", filters[i], mqtt::to_string(rc));
      } else {
        fmt::print("subscribed to {} (granted QoS {})\n", filters[i], static_cast<int>(rc));
      }
    }

    for (int n = 0; (count == 0 || n < count) && !stop_requested;) {
      // Wake up now and then to notice Ctrl-C; nullopt just means "nothing yet".
      auto m = client.receive(std::chrono::milliseconds(200));
      if (!m) continue;
      std::string matched;
      for (const auto& f : filters) {
        // A shared subscription "$share/group/filter" matches by its filter part.
        const auto shared = mqtt::parse_shared_filter(f);
        if (mqtt::topic_matches(shared ? shared->filter : f, m->topic)) {
          matched += (matched.empty() ? "" : ", ") + f;
        }
      }
      fmt::print("{} {} (QoS {}{}, matched {})\n", m->topic, m->payload, m->qos, m->retain ? ", retained" : "",
                 matched);
      ++n;
    }
    client.disconnect();
  } catch (const hc::ClientError& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
