// example_sensor: a temperature sensor that publishes a reading every second.
//
//   example_sensor --sensor kitchen                      # runs until Ctrl-C
//   mosquitto_sub -t 'sensors/+/temperature' -v         # sensors/kitchen/temperature 20.5 ...
//
// The simplest use of the library: the synchronous facade (SyncClient) connects, publishes in a
// loop and disconnects; each call blocks until it is done and throws ClientError if it fails.
// At QoS 1, publish() returns once the broker has acknowledged the reading (PUBACK). If the
// broker goes away, the client reconnects by itself and the pending reading is sent then.
//
// --count N stops after N readings (0: until Ctrl-C); --interval-ms sets the period.
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <thread>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "client/sync_client.hpp"

namespace hc = hermod::client;

namespace {

volatile std::sig_atomic_t stop_requested = 0;  // set by Ctrl-C: finish the loop and disconnect

// A made-up temperature that drifts slowly, with one decimal as a real sensor would report it.
std::string reading(int n) { return fmt::format("{:.1f}", 20.0 + 2.0 * std::sin(n / 5.0)); }

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // one line at a time, even into a pipe
  hc::ClientOptions options;
  options.host = "127.0.0.1";
  std::string sensor = "kitchen";
  int count = 0;
  int interval_ms = 1000;
  int qos = 1;

  CLI::App app{"Publish a temperature reading every second."};
  app.add_option("--host", options.host, "broker host");
  app.add_option("--port", options.port, "broker port");
  app.add_option("--sensor", sensor, "sensor name: readings go to sensors/<name>/temperature");
  app.add_option("--count", count, "stop after this many readings (0: until Ctrl-C)");
  app.add_option("--interval-ms", interval_ms, "time between readings")->check(CLI::PositiveNumber);
  app.add_option("--qos", qos, "QoS of each reading")->check(CLI::Range(0, 2));
  CLI11_PARSE(app, argc, argv);

  std::signal(SIGINT, [](int) { stop_requested = 1; });
  std::signal(SIGTERM, [](int) { stop_requested = 1; });

  options.client_id = "sensor-" + sensor;
  const std::string topic = "sensors/" + sensor + "/temperature";
  try {
    hc::SyncClient client(options);
    client.connect();
    fmt::print("connected to {}:{} as {}\n", options.host, options.port, options.client_id);

    auto next = std::chrono::steady_clock::now();
    for (int n = 0; (count == 0 || n < count) && !stop_requested; ++n) {
      const std::string value = reading(n);
      client.publish(topic, value, static_cast<std::uint8_t>(qos));  // blocks until acknowledged
      fmt::print("published {} {}\n", topic, value);
      // Sleep to a fixed schedule, so the period does not drift by the time publish() took.
      next += std::chrono::milliseconds(interval_ms);
      if (count == 0 || n + 1 < count) std::this_thread::sleep_until(next);
    }
    client.disconnect();
  } catch (const hc::ClientError& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
