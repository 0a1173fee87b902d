#include "client/broker_url.hpp"

#include <gtest/gtest.h>

namespace hermod::client {
namespace {

BrokerUrl parse_ok(std::string_view text) {
  std::string error;
  auto url = parse_broker_url(text, error);
  EXPECT_TRUE(url.has_value()) << text << ": " << error;
  return url.value_or(BrokerUrl{});
}

std::string parse_error(std::string_view text) {
  std::string error;
  auto url = parse_broker_url(text, error);
  EXPECT_FALSE(url.has_value()) << text << " parsed";
  return error;
}

TEST(BrokerUrl, EachSchemeHasItsTransportAndDefaultPort) {
  struct Case {
    const char* url;
    TransportKind kind;
    std::uint16_t port;
  };
  for (const Case& c : {Case{"mqtt://broker", TransportKind::tcp, 1883}, Case{"mqtts://broker", TransportKind::tls, 8883},
                        Case{"ws://broker", TransportKind::ws, 80}, Case{"wss://broker", TransportKind::wss, 443}}) {
    const auto u = parse_ok(c.url);
    EXPECT_EQ(u.transport, c.kind) << c.url;
    EXPECT_EQ(u.port, c.port) << c.url;
    EXPECT_FALSE(u.port_given) << c.url;
    EXPECT_EQ(u.host, "broker") << c.url;
    EXPECT_EQ(u.path, "") << c.url;
  }
}

TEST(BrokerUrl, SchemeIsCaseInsensitive) {
  EXPECT_EQ(parse_ok("MQTTS://h").transport, TransportKind::tls);
  EXPECT_EQ(parse_ok("Wss://h").transport, TransportKind::wss);
}

TEST(BrokerUrl, ExplicitPortAndPath) {
  const auto u = parse_ok("ws://127.0.0.1:9001/mqtt/ws");
  EXPECT_EQ(u.host, "127.0.0.1");
  EXPECT_EQ(u.port, 9001);
  EXPECT_TRUE(u.port_given);
  EXPECT_EQ(u.path, "/mqtt/ws");
}

TEST(BrokerUrl, PathIsKeptAsWrittenIncludingWildcards) {
  // mosquitto_sub -L mqtt://host/sensors/# : the path is the topic, '#' and '+' included.
  EXPECT_EQ(parse_ok("mqtt://h:1884/sensors/+/temp/#").path, "/sensors/+/temp/#");
  EXPECT_EQ(parse_ok("wss://h/mqtt?token=a%20b").path, "/mqtt?token=a%20b");
}

TEST(BrokerUrl, Ipv6AddressInBrackets) {
  const auto u = parse_ok("mqtts://[::1]:8883/t");
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.port, 8883);
  EXPECT_EQ(u.path, "/t");
  EXPECT_EQ(parse_ok("ws://[fe80::1]").host, "fe80::1");
  EXPECT_EQ(parse_ok("ws://[fe80::1]").port, 80);
}

TEST(BrokerUrl, UserAndPasswordAreDecoded) {
  const auto u = parse_ok("mqtt://alice:p%40ss%3Aw%2Fd@broker:1884/topic");
  ASSERT_TRUE(u.username && u.password);
  EXPECT_EQ(*u.username, "alice");
  EXPECT_EQ(*u.password, "p@ss:w/d");
  EXPECT_EQ(u.host, "broker");
  EXPECT_EQ(u.port, 1884);
  const auto only_user = parse_ok("mqtt://bob@broker");
  EXPECT_EQ(only_user.username.value_or(""), "bob");
  EXPECT_FALSE(only_user.password);
}

TEST(BrokerUrl, LastAtSignEndsTheUserInformation) {
  const auto u = parse_ok("mqtt://u:a@b@host/t@x");
  EXPECT_EQ(u.password.value_or(""), "a@b");
  EXPECT_EQ(u.host, "host");
  EXPECT_EQ(u.path, "/t@x");
}

TEST(BrokerUrl, RefusesWhatIsNotABrokerUrl) {
  EXPECT_NE(parse_error("localhost:1883").find("not a URL"), std::string::npos);
  EXPECT_NE(parse_error("http://h").find("unsupported scheme 'http'"), std::string::npos);
  EXPECT_NE(parse_error("mqtt://").find("empty host"), std::string::npos);
  EXPECT_NE(parse_error("mqtt://:1883").find("empty host"), std::string::npos);
  EXPECT_NE(parse_error("mqtt://h:").find("invalid port"), std::string::npos);
  EXPECT_NE(parse_error("mqtt://h:0").find("invalid port"), std::string::npos);
  EXPECT_NE(parse_error("mqtt://h:65536").find("invalid port"), std::string::npos);
  EXPECT_NE(parse_error("mqtt://h:12a").find("invalid port"), std::string::npos);
  EXPECT_NE(parse_error("mqtt://[::1").find("unclosed"), std::string::npos);
  EXPECT_NE(parse_error("mqtt://[not-v6]:1").find("invalid IPv6"), std::string::npos);
  EXPECT_NE(parse_error("mqtt://::1:1883").find("brackets"), std::string::npos);
  EXPECT_NE(parse_error("mqtt://u:%4@h").find("%-escape"), std::string::npos);
  EXPECT_NE(parse_error("mqtt://bad host").find("invalid host"), std::string::npos);
}

TEST(BrokerUrl, ApplySetsTransportAddressPathAndCredentials) {
  ClientOptions o;
  apply_broker_url(parse_ok("wss://u:pw@example.org:8443/ws"), o);
  EXPECT_EQ(o.transport, TransportKind::wss);
  EXPECT_EQ(o.host, "example.org");
  EXPECT_EQ(o.port, 8443);
  EXPECT_EQ(o.ws_path, "/ws");
  EXPECT_EQ(o.username.value_or(""), "u");
  EXPECT_EQ(o.password.value_or(""), "pw");
}

TEST(BrokerUrl, ApplyGivesWebSocketTheDefaultPath) {
  ClientOptions o;
  o.ws_path = "/other";
  apply_broker_url(parse_ok("ws://h"), o);
  EXPECT_EQ(o.ws_path, "/mqtt");
}

TEST(BrokerUrl, ApplyIgnoresThePathOfAnMqttUrl) {
  ClientOptions o;
  apply_broker_url(parse_ok("mqtts://h/some/topic"), o);
  EXPECT_EQ(o.transport, TransportKind::tls);
  EXPECT_EQ(o.port, 8883);
  EXPECT_EQ(o.ws_path, "/mqtt");
  EXPECT_FALSE(o.username);
}

}  // namespace
}  // namespace hermod::client
