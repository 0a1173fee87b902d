// What `hermod-cli bench` was asked to do: the scenario and its knobs, as parsed from the command
// line. Plain values; main thread builds it, the runners only read it.
#pragma once

#include <cstdint>
#include <string>

#include "client/options.hpp"
#include "mqtt/packet_type.hpp"

namespace hermod::cli::bench {

enum class Scenario { pairs, fanout, fanin, latency, conns };
const char* to_string(Scenario s);

struct BenchOptions {
  Scenario scenario = Scenario::pairs;
  std::string host = "127.0.0.1";
  int port = 1883;
  // Every connection of the run goes over this transport (TransportLayer for all but tcp).
  client::TransportKind transport = client::TransportKind::tcp;
  client::TlsOptions tls;         // tls, wss
  std::string ws_path = "/mqtt";  // ws, wss
  mqtt::ProtocolVersion version = mqtt::ProtocolVersion::v3_1_1;
  unsigned threads = 1;        // event loops, one thread each
  double duration = 5.0;       // seconds of publishing (every loop stops by count or time)
  std::uint64_t count = 0;     // messages per publisher; 0: as many as the duration allows
  double drain = 3.0;          // seconds to wait for the last deliveries and acknowledgements
  double setup_timeout = 20.0; // seconds to connect and subscribe everything
  int qos = 0;
  std::size_t size = 64;       // payload bytes (at least the 24-byte header of the check)
  std::uint32_t window = 256;  // per publisher: messages sent and not yet delivered (and acks)
  double rate = 0;             // messages/s over all publishers; 0: as fast as the window allows
  std::uint32_t clients = 16;  // pairs, subscribers (fanout), publishers (fanin)
  std::uint16_t keepalive = 600;
  bool persistent = false;     // subscribers keep their sessions (clean session 0 / expiry 300 s)
  bool json = false;
  std::string label;           // free text copied into the output (e.g. the broker's name)

  // conns
  std::uint32_t connections = 1000;
  std::uint32_t sources = 8;       // 127.0.0.2 ... 127.0.0.(1+sources) as source addresses
  std::uint32_t connect_concurrency = 256;
  double hold = 5.0;               // seconds to keep the connections open once all are up
};

}  // namespace hermod::cli::bench
