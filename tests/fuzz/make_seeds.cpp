// Writes the seed corpora of the fuzz targets: a handful of real packets per target, in each
// target's input format. Usage: hermod_fuzz_seeds <tests/fuzz/corpus>. The files are committed;
// rerun only when a target's input format or the packet set changes.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "mqtt/encoder.hpp"
#include "net/ws_frame.hpp"
#include "net/ws_handshake.hpp"

using namespace hermod::mqtt;
namespace fs = std::filesystem;

namespace {

using V = ProtocolVersion;

void write(const fs::path& dir, const std::string& name, const std::string& bytes) {
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary) << bytes;
}

Properties publish_props() {
  Properties p;
  p.payload_format_indicator = 1;
  p.message_expiry_interval = 60;
  p.content_type = "text/plain";
  p.response_topic = "reply/1";
  p.correlation_data = "c0";
  p.subscription_identifiers = {7, 300};
  p.topic_alias = 2;
  p.user_properties = {{"k", "v"}};
  return p;
}

// Named packets for a peer speaking `v`.
std::vector<std::pair<std::string, Packet>> packets(V v) {
  const bool v5 = is_v5(v);
  Connect connect{.version = v, .keep_alive = 60, .client_id = "seed", .username = "u", .password = "p"};
  connect.will = Will{.topic = "w/t", .payload = "bye", .qos = 1, .retain = true};
  if (v5) {
    connect.props.session_expiry_interval = 3600;
    connect.props.receive_maximum = 10;
    connect.props.authentication_method = "PLAIN";
    connect.will->props.will_delay_interval = 5;
  }
  Connack connack{.session_present = true};
  if (v5) {
    connack.props.assigned_client_identifier = "auto-1";
    connack.props.maximum_qos = 1;
  }
  Publish publish{.topic = "a/b", .payload = "hello", .qos = 1, .packet_id = 1};
  if (v5) publish.props = publish_props();
  Subscribe subscribe{.packet_id = 2, .subscriptions = {{"a/+", {.qos = 1}}, {"$share/g/#", {.qos = 2}}}};
  if (v5) {
    subscribe.subscriptions[0].options.no_local = true;
    subscribe.props.subscription_identifiers = {9};
  }
  std::vector<std::pair<std::string, Packet>> out = {
      {"connect", connect},
      {"connack", connack},
      {"publish_qos0", Publish{.topic = "t", .payload = "x"}},
      {"publish_qos1", publish},
      {"puback", Puback{.packet_id = 1, .reason = v5 ? ReasonCode::no_matching_subscribers : ReasonCode::success}},
      {"pubrel", Pubrel{.packet_id = 1}},
      {"subscribe", subscribe},
      {"suback", Suback{.packet_id = 2, .reasons = {ReasonCode::granted_qos_1, ReasonCode::unspecified_error}}},
      {"unsubscribe", Unsubscribe{.packet_id = 3, .filters = {"a/+"}}},
      {"unsuback", Unsuback{.packet_id = 3, .reasons = {ReasonCode::success}}},
      {"pingreq", Pingreq{}},
      {"disconnect", Disconnect{.reason = v5 ? ReasonCode::server_moved : ReasonCode::success}},
  };
  if (v5) {
    Auth auth{.reason = ReasonCode::continue_authentication};
    auth.props.authentication_method = "SCRAM-SHA-1";
    auth.props.authentication_data = std::string("\x00\x01", 2);
    out.emplace_back("auth", auth);
  }
  return out;
}

std::string version_tag(V v) { return v == V::v3_1 ? "v31" : v == V::v3_1_1 ? "v311" : "v5"; }

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus dir>\n", argv[0]);
    return 2;
  }
  const fs::path root = argv[1];
  for (V v : {V::v3_1, V::v3_1_1, V::v5}) {
    std::string stream;
    for (const auto& [name, packet] : packets(v)) {
      const auto wire = encode(packet, v);
      stream += wire;
      if (v == V::v5) write(root / "fuzz_fixed_header", version_tag(v) + "_" + name, wire);
      // fuzz_decode_packet: byte 0 % 3 selects 3.1, 3.1.1, 5.0.
      const char selector = v == V::v3_1 ? 0 : v == V::v3_1_1 ? 1 : 2;
      write(root / "fuzz_decode_packet", version_tag(v) + "_" + name, selector + wire);
    }
    // fuzz_stream_decoder: byte 0 picks the initial version (3.1.1) and no size limit, byte 1 the
    // chunk sizes. The CONNECT at the head of the stream switches to its own version.
    write(root / "fuzz_stream_decoder", version_tag(v) + "_session", std::string("\x00\x2A", 2) + stream);
    write(root / "fuzz_stream_decoder", version_tag(v) + "_session_limit",
          std::string("\xFC\x07", 2) + stream);
  }
  write(root / "fuzz_fixed_header", "max_remaining_length", "\x30\xFF\xFF\xFF\x7F");
  write(root / "fuzz_fixed_header", "length_too_long", "\x30\xFF\xFF\xFF\xFF\x01");

  // fuzz_properties: byte 0 is the context - 1 (PropertyContext numbering).
  const std::pair<PropertyContext, Properties> lists[] = {
      {PropertyContext::publish, publish_props()},
      {PropertyContext::connect, Properties{.session_expiry_interval = 1, .authentication_method = "m",
                                            .request_problem_information = 1, .receive_maximum = 5,
                                            .maximum_packet_size = 1024}},
      {PropertyContext::connack, Properties{.assigned_client_identifier = "a", .server_keep_alive = 5,
                                            .reason_string = "r", .maximum_qos = 1,
                                            .shared_subscription_available = 0}},
      {PropertyContext::will, Properties{.payload_format_indicator = 0, .will_delay_interval = 30}},
      {PropertyContext::disconnect, Properties{.server_reference = "s", .reason_string = "bye"}},
  };
  for (const auto& [ctx, props] : lists) {
    std::string bytes(1, static_cast<char>(static_cast<int>(ctx) - 1));
    encode_properties(bytes, props, ctx);
    write(root / "fuzz_properties", "context_" + std::to_string(static_cast<int>(ctx)), bytes);
  }

  // fuzz_topic: "filter\0name".
  const std::pair<const char*, const char*> topics[] = {
      {"sport/tennis/+", "sport/tennis/player1"}, {"sport/#", "sport"},
      {"+/+", "/finance"},                        {"#", "$SYS/broker/load"},
      {"$share/group/a/+", "a/b"},                {"a/+", "a/"},
  };
  int i = 0;
  for (const auto& [filter, name] : topics) {
    write(root / "fuzz_topic", "pair_" + std::to_string(i++), std::string(filter) + '\0' + name);
  }

  // fuzz_websocket: a mode byte (0 server deframer, 1 client deframer, 2 request, 3 response),
  // a read-size byte for the deframers, then the bytes.
  namespace ws = hermod::net::ws;
  const ws::MaskKey key{9, 8, 7, 6};
  const auto frame = [](ws::Opcode op, const std::string& payload, bool fin, const ws::MaskKey* mask) {
    std::uint8_t h[ws::kMaxHeaderSize];
    const std::size_t n = ws::encode_header(h, op, fin, payload.size(), mask);
    std::string body = payload;
    if (mask) ws::apply_mask(reinterpret_cast<std::uint8_t*>(body.data()), body.size(), *mask, 0);
    return std::string(reinterpret_cast<const char*>(h), n) + body;
  };
  const std::string connect = encode(Connect{.client_id = "c"}, V::v3_1_1);
  write(root / "fuzz_websocket", "server_frames", std::string("\0\x05") + frame(ws::Opcode::binary, connect.substr(0, 4), false, &key) +
        frame(ws::Opcode::ping, "p", true, &key) + frame(ws::Opcode::continuation, connect.substr(4), true, &key) +
        frame(ws::Opcode::close, ws::close_payload(ws::CloseCode::normal), true, &key));
  write(root / "fuzz_websocket", "client_frames", std::string("\x01\x03") + frame(ws::Opcode::binary, connect, true, nullptr) +
        frame(ws::Opcode::ping, "", true, nullptr));
  write(root / "fuzz_websocket", "request", "\x02" + ws::client_request("localhost:9001", "/mqtt", "dGhlIHNhbXBsZSBub25jZQ==",
        {"mqttv3.1", "mqtt"}) );
  write(root / "fuzz_websocket", "response", "\x03HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n");

  // fuzz_proxy: PROXY headers of both versions, followed by a CONNECT.
  write(root / "fuzz_proxy", "v1", "PROXY TCP4 198.51.100.22 192.0.2.1 35646 1883\r\n" + connect);
  write(root / "fuzz_proxy", "v1_unknown", "PROXY UNKNOWN\r\n");
  const std::string v2_ssl = std::string("\x20\x00\x12\x03\x00\x00\x00\x00\x22\x00\x05" "alice\x21\x00\x02" "ok", 21);
  write(root / "fuzz_proxy", "v2_tls", std::string("\r\n\r\n\0\r\nQUIT\n\x21\x11\x00", 15) +
        static_cast<char>(12 + v2_ssl.size()) + std::string("\xCB\x00\x71\x07\xC0\x00\x02\x01\x12\x67\x07\x5B", 12) + v2_ssl + connect);
  return 0;
}
