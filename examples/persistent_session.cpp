// example_persistent_session: a worker that catches up on the jobs published while it was offline.
//
//   example_persistent_session --id worker-1 --receive 0     # first run: subscribe, then leave
//   mosquitto_pub -t jobs/42 -m 'resize photo' -q 1          # published while the worker is away
//   example_persistent_session --id worker-1 --receive 1     # prints "jobs/42 resize photo"
//
// It connects with a fixed client id, clean start off and (MQTT 5) a session expiry interval,
// so the broker keeps the session after DISCONNECT: the subscriptions, and the QoS 1/2 messages
// that match them, queued until the worker returns. CONNACK then says "session present" and the
// queued messages arrive without subscribing again. (QoS 0 messages are not queued for offline
// sessions by default.) If the broker did not keep the session (first run, expired, restarted
// without persistence), session present is 0 and we subscribe.
//
// --receive N: wait for N messages (0: just make sure the session exists). --idle-ms: give up
// waiting after that long without a message (the exit code is then 1).
#include <cstdio>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "client/sync_client.hpp"

namespace hc = hermod::client;

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // one line at a time, even into a pipe
  hc::ClientOptions options;
  options.host = "127.0.0.1";
  options.client_id = "worker-1";
  std::string filter = "jobs/#";
  int receive = 0;
  int idle_ms = 5000;
  std::uint32_t expiry = 3600;

  CLI::App app{"A persistent session: receive what was published while this client was offline."};
  app.add_option("--host", options.host, "broker host");
  app.add_option("--port", options.port, "broker port");
  app.add_option("--id", options.client_id, "client id: the broker finds the session by it");
  app.add_option("--filter", filter, "what to subscribe to (QoS 1)");
  app.add_option("--receive", receive, "messages to wait for (0: only set up the session)");
  app.add_option("--idle-ms", idle_ms, "stop waiting after this long without a message");
  app.add_option("--session-expiry", expiry, "seconds the broker keeps the session after we leave");
  CLI11_PARSE(app, argc, argv);

  options.version = hermod::mqtt::ProtocolVersion::v5;
  options.clean_start = false;                              // resume the session if there is one
  options.connect_props.session_expiry_interval = expiry;  // and keep it after we disconnect

  try {
    hc::SyncClient client(options);
    const auto connack = client.connect();
    fmt::print("connected as {}: session present = {}\n", options.client_id, connack.session_present ? 1 : 0);
    if (!connack.session_present) {
      // A new session has no subscriptions. (With session present, subscribing again would be
      // harmless but useless: the broker still has it.)
      client.subscribe(filter, 1);
      fmt::print("subscribed to {} at QoS 1\n", filter);
    }

    int got = 0;
    while (got < receive) {
      auto m = client.receive(std::chrono::milliseconds(idle_ms));
      if (!m) {
        fmt::print("nothing for {} ms, giving up\n", idle_ms);
        break;
      }
      fmt::print("received {} {}{}\n", m->topic, m->payload, m->dup ? " (resent)" : "");
      ++got;
    }
    client.disconnect();
    fmt::print("disconnected after {} message(s); the broker keeps the session for {} s\n", got, expiry);
    return got == receive ? 0 : 1;
  } catch (const hc::ClientError& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
