// example_retained_status: a device keeps its current status in a retained message.
//
// The broker stores the last retained message of each topic and hands it to every new
// subscriber at once, so a dashboard that starts later learns the current status without
// waiting for the next change. Publishing an empty retained message deletes it.
//
//   example_retained_status --device boiler --status online   # sets devices/boiler/status
//   mosquitto_sub -t 'devices/+/status' -v -C 1               # devices/boiler/status online
//   example_retained_status --device boiler --clear           # deletes it
//
// After setting the status, the program plays the late dashboard too: a second client connects,
// subscribes to devices/+/status and prints what the broker hands it, with the retain flag.
#include <cstdio>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "client/sync_client.hpp"

namespace hc = hermod::client;

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // one line at a time, even into a pipe
  hc::ClientOptions options;
  options.host = "127.0.0.1";
  std::string device = "boiler";
  std::string status = "online";
  bool clear = false;

  CLI::App app{"Set (or clear) a device's retained status, then read it back as a late subscriber."};
  app.add_option("--host", options.host, "broker host");
  app.add_option("--port", options.port, "broker port");
  app.add_option("--device", device, "device name: the status lives in devices/<name>/status");
  app.add_option("--status", status, "the status to publish");
  app.add_flag("--clear", clear, "delete the retained status instead");
  CLI11_PARSE(app, argc, argv);

  const std::string topic = "devices/" + device + "/status";
  try {
    // The device: one retained publish at QoS 1, acknowledged once the broker has stored it.
    hc::ClientOptions device_options = options;
    device_options.client_id = "device-" + device;
    hc::SyncClient dev(device_options);
    dev.connect();
    dev.publish(topic, clear ? "" : status, 1, /*retain=*/true);
    dev.disconnect();
    if (clear) {
      fmt::print("{}: retained status deleted (empty retained message)\n", topic);
      return 0;
    }
    fmt::print("{}: published retained status \"{}\"\n", topic, status);

    // The dashboard, started later: the broker sends the retained status right after SUBACK.
    // Other devices' statuses may come too; we wait for ours.
    hc::ClientOptions dashboard_options = options;
    dashboard_options.client_id = "dashboard-" + device;
    hc::SyncClient dashboard(dashboard_options);
    dashboard.connect();
    dashboard.subscribe("devices/+/status", 1);
    bool found = false;
    while (!found) {
      auto m = dashboard.receive(std::chrono::seconds(5));
      if (!m) break;
      fmt::print("dashboard (subscribed later) got {} = {}{}\n", m->topic, m->payload,
                 m->retain ? " (retained)" : "");
      found = m->topic == topic;
    }
    dashboard.disconnect();
    if (!found) {
      fmt::print(stderr, "error: the broker sent no retained status for {}\n", topic);
      return 1;
    }
  } catch (const hc::ClientError& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
