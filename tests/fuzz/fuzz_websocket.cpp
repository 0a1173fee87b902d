// WebSocket framing and the opening handshake. Input: a mode byte, then the bytes.
//   mode % 4 == 0: the server's Deframer (client frames, masked); == 1: a client's Deframer
//     (server frames, unmasked). The second byte sets the read size: decoding the same bytes in
//     reads of that size must give the same data, the same failure or close, and the same queued
//     output as decoding them in one read (the state carried between reads is the whole state).
//   == 2: check_upgrade on the rest (a request), from a trusted peer; == 3: check_response.
// Nothing may crash; a decode never returns more bytes than it was given; a refusal carries a
// response, an acceptance a subprotocol.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_check.hpp"
#include "net/ws_frame.hpp"
#include "net/ws_handshake.hpp"

using namespace hermod::net;

namespace {

struct Outcome {
  std::string data;
  bool failed;
  bool closed;
  int code;
  std::string output;
};

Outcome deframe(bool server, const std::uint8_t* data, std::size_t size, std::size_t chunk) {
  ws::Deframer d({server, 4096, !server}, 1);
  std::vector<std::uint8_t> buf(data, data + size);
  Outcome o;
  for (std::size_t at = 0; at < size; at += chunk) {
    const std::size_t n = std::min(chunk, size - at);
    const std::size_t got = d.decode(buf.data() + at, n);
    FUZZ_CHECK(got <= n);
    o.data.append(reinterpret_cast<const char*>(buf.data() + at), got);
  }
  o.failed = d.failed();
  o.closed = d.closed();
  o.code = static_cast<int>(d.failed() ? d.error_code() : d.peer_close_code());
  o.output = d.output();
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const int mode = data[0] % 4;
  if (mode < 2) {
    const bool server = mode == 0;
    const std::size_t chunk = data[1] % 32 + 1;
    const auto whole = deframe(server, data + 2, size - 2, size);
    const auto pieces = deframe(server, data + 2, size - 2, chunk);
    FUZZ_CHECK(whole.data == pieces.data);
    FUZZ_CHECK(whole.failed == pieces.failed);
    FUZZ_CHECK(whole.closed == pieces.closed);
    FUZZ_CHECK(whole.code == pieces.code);
    // The client masks its queued frames with keys from the same seed, in the same order.
    FUZZ_CHECK(whole.output == pieces.output);
    return 0;
  }
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  if (mode == 2) {
    ws::ServerOptions options;
    options.origins = {"https://app.example"};
    options.trusted_proxies = {*AddressRange::parse("127.0.0.0/8")};
    const auto r = ws::check_upgrade(text, boost::asio::ip::make_address("127.0.0.1"), options);
    FUZZ_CHECK(r.consumed <= text.size());
    if (r.status == ws::UpgradeResult::Status::refused) FUZZ_CHECK(r.response.rfind("HTTP/1.1 4", 0) == 0);
    if (r.status == ws::UpgradeResult::Status::accepted) FUZZ_CHECK(r.protocol == "mqtt" || r.protocol == "mqttv3.1");
  } else {
    const auto r = ws::check_response(text, "dGhlIHNhbXBsZSBub25jZQ==", {"mqtt"});
    FUZZ_CHECK(r.consumed <= text.size());
    if (r.status == ws::ResponseResult::Status::accepted) FUZZ_CHECK(r.protocol == "mqtt");
  }
  return 0;
}
