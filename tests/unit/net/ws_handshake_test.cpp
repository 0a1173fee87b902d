// The WebSocket opening handshake (RFC 6455 section 4): the server's answer to each kind of
// request, forwarded client addresses from trusted proxies only, and the client's side against
// the server's.
#include "net/ws_handshake.hpp"

#include <gtest/gtest.h>

#include <string>

namespace hermod::net::ws {
namespace {

namespace ip = boost::asio::ip;

const auto kPeer = ip::make_address("127.0.0.1");
constexpr const char* kKey = "dGhlIHNhbXBsZSBub25jZQ==";  // RFC 6455 section 1.3's example

std::string request(const std::string& extra = "Sec-WebSocket-Protocol: mqtt\r\n", const std::string& path = "/mqtt",
                    const std::string& method = "GET") {
  return method + " " + path + " HTTP/1.1\r\nHost: localhost:9001\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
         "Sec-WebSocket-Key: " + kKey + "\r\nSec-WebSocket-Version: 13\r\n" + extra + "\r\n";
}

UpgradeResult check(const std::string& req, const ServerOptions& options = {}) {
  return check_upgrade(req, kPeer, options);
}

int status_of(const UpgradeResult& r) {
  if (r.status != UpgradeResult::Status::refused) return r.status == UpgradeResult::Status::accepted ? 101 : 0;
  return std::stoi(r.response.substr(9, 3));
}

TEST(WsHandshake, AcceptKeyIsTheRfcExample) { EXPECT_EQ(accept_key(kKey), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="); }

TEST(WsHandshake, AcceptsAnUpgradeAndChoosesTheClientsFirstMqttProtocol) {
  const auto r = check(request("Sec-WebSocket-Protocol: chat, mqttv3.1, mqtt\r\n") + "\x10\x0c");
  ASSERT_EQ(r.status, UpgradeResult::Status::accepted) << r.why;
  EXPECT_EQ(r.protocol, "mqttv3.1");
  EXPECT_EQ(r.consumed, request("Sec-WebSocket-Protocol: chat, mqttv3.1, mqtt\r\n").size()) << "bytes after the request are not its";
  EXPECT_NE(r.response.find("HTTP/1.1 101 Switching Protocols\r\n"), std::string::npos);
  EXPECT_NE(r.response.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"), std::string::npos);
  EXPECT_NE(r.response.find("Sec-WebSocket-Protocol: mqttv3.1\r\n"), std::string::npos);
  EXPECT_FALSE(r.forwarded_for);
}

TEST(WsHandshake, IsIncompleteUntilTheHeaderEnds) {
  const std::string req = request();
  for (std::size_t n = 0; n < req.size(); ++n) {
    EXPECT_EQ(check(req.substr(0, n)).status, UpgradeResult::Status::incomplete) << n;
  }
}

TEST(WsHandshake, RefusesWithTheRightStatus) {
  ServerOptions origins;
  origins.origins = {"https://app.example"};
  EXPECT_EQ(status_of(check(request({}, "/other"))), 404);
  EXPECT_EQ(status_of(check(request("Sec-WebSocket-Protocol: mqtt\r\n", "/mqtt?x=1"))), 101) << "the query is not the path";
  EXPECT_EQ(status_of(check(request("Sec-WebSocket-Protocol: mqtt\r\n", "/mqtt", "POST"))), 405);
  EXPECT_EQ(status_of(check(request(""))), 400) << "no subprotocol";
  EXPECT_EQ(status_of(check(request("Sec-WebSocket-Protocol: chat\r\n"))), 400) << "no MQTT subprotocol";
  EXPECT_EQ(status_of(check(request("Sec-WebSocket-Protocol: mqtt\r\nOrigin: https://evil.example\r\n"), origins)), 403);
  EXPECT_EQ(status_of(check(request("Sec-WebSocket-Protocol: mqtt\r\nOrigin: https://APP.example\r\n"), origins)), 101);
  EXPECT_EQ(status_of(check(request(), origins)), 101) << "a client without Origin is not a browser";
  EXPECT_EQ(status_of(check("GET /mqtt HTTP/1.1\r\nHost: h\r\n\r\n")), 426);
  std::string v8 = request();
  v8.replace(v8.find("Version: 13"), 11, "Version: 8");
  const auto old = check(v8);
  EXPECT_EQ(status_of(old), 426);
  EXPECT_NE(old.response.find("Sec-WebSocket-Version: 13\r\n"), std::string::npos);
  std::string bad_key = request();
  bad_key.replace(bad_key.find(kKey), 24, "short");
  EXPECT_EQ(status_of(check(bad_key)), 400);
  EXPECT_EQ(status_of(check("GET /mqtt HTTP/1.0\r\nHost: h\r\n\r\n")), 400);
  EXPECT_EQ(status_of(check("NOT HTTP AT ALL\r\n\r\n")), 400);
  EXPECT_EQ(status_of(check(request("X-Big: " + std::string(9000, 'a') + "\r\n"))), 431);
  EXPECT_EQ(status_of(check("GET /mqtt HTTP/1.1\r\nX-Big: " + std::string(9000, 'a'))), 431) << "a header that never ends";
}

TEST(WsHandshake, ForwardedAddressesCountOnlyFromTrustedProxies) {
  ServerOptions trusted;
  trusted.trusted_proxies = {*AddressRange::parse("127.0.0.0/8"), *AddressRange::parse("10.0.0.0/8")};
  const std::string fwd = "Sec-WebSocket-Protocol: mqtt\r\nX-Forwarded-For: 198.51.100.1, 203.0.113.7, 10.1.1.1\r\n";
  EXPECT_FALSE(check(request(fwd)).forwarded_for) << "no proxy is trusted";
  const auto r = check(request(fwd), trusted);
  ASSERT_TRUE(r.forwarded_for);
  EXPECT_EQ(r.forwarded_for->to_string(), "203.0.113.7") << "the right-most address that is not a trusted proxy";
  const auto real = check(request("Sec-WebSocket-Protocol: mqtt\r\nX-Real-IP: [2001:db8::5]:4711\r\n"), trusted);
  ASSERT_TRUE(real.forwarded_for);
  EXPECT_EQ(real.forwarded_for->to_string(), "2001:db8::5");
  EXPECT_FALSE(check(request("Sec-WebSocket-Protocol: mqtt\r\nX-Forwarded-For: garbage\r\n"), trusted).forwarded_for);
  ServerOptions elsewhere;
  elsewhere.trusted_proxies = {*AddressRange::parse("10.0.0.0/8")};
  EXPECT_FALSE(check(request(fwd), elsewhere).forwarded_for) << "the peer 127.0.0.1 is not a trusted proxy";
}

TEST(WsHandshake, ClientAndServerAgree) {
  const std::vector<std::string> protocols{"mqtt"};
  const std::string req = client_request("localhost:9001", "/mqtt", kKey, protocols);
  const auto server = check(req);
  ASSERT_EQ(server.status, UpgradeResult::Status::accepted) << server.why;
  const auto client = check_response(server.response + "\x20\x02", kKey, protocols);
  ASSERT_EQ(client.status, ResponseResult::Status::accepted) << client.why;
  EXPECT_EQ(client.protocol, "mqtt");
  EXPECT_EQ(client.consumed, server.response.size());
  EXPECT_EQ(check_response(server.response.substr(0, 20), kKey, protocols).status, ResponseResult::Status::incomplete);
  EXPECT_EQ(check_response(server.response, "AAAAAAAAAAAAAAAAAAAAAA==", protocols).status, ResponseResult::Status::refused)
      << "an answer to another key";
  const auto refused = check_response(check(request({}, "/x")).response, kKey, protocols);
  EXPECT_EQ(refused.status, ResponseResult::Status::refused);
  EXPECT_NE(refused.why.find("404"), std::string::npos) << refused.why;
}

}  // namespace
}  // namespace hermod::net::ws
