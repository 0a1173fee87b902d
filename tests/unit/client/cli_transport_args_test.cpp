// hermod-cli's transport flags (src/cli/hermod_cli/transport_args.hpp): which combination means
// which transport, port and TLS settings, and which are refused.
#include "transport_args.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

namespace hermod::cli {
namespace {

using client::TransportKind;

Endpoint resolve(const TransportArgs& a, std::optional<std::string> host = {}, std::optional<int> port = {}) {
  return resolve_endpoint(a, host, port, "localhost");
}

std::string refusal(const TransportArgs& a, std::optional<std::string> host = {}, std::optional<int> port = {}) {
  try {
    resolve(a, host, port);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  ADD_FAILURE() << "accepted";
  return {};
}

TEST(CliTransportArgs, PlainTcpByDefault) {
  const auto e = resolve({});
  EXPECT_EQ(e.transport, TransportKind::tcp);
  EXPECT_EQ(e.host, "localhost");
  EXPECT_EQ(e.port, 1883);
}

TEST(CliTransportArgs, CafileCapathOrCertTurnTlsOnWithPort8883) {
  TransportArgs cafile;
  cafile.cafile = "ca.pem";
  TransportArgs capath;
  capath.capath = "/etc/ssl/certs";
  TransportArgs cert;
  cert.cert = "me.pem";
  cert.key = "me.key";
  for (const auto& a : {cafile, capath, cert}) {
    const auto e = resolve(a);
    EXPECT_EQ(e.transport, TransportKind::tls);
    EXPECT_EQ(e.port, 8883);
  }
  EXPECT_EQ(resolve(cafile, "h", 1884).port, 1884);
  EXPECT_EQ(resolve(cafile).tls.ca_file, "ca.pem");
  EXPECT_EQ(resolve(capath).tls.ca_dir, "/etc/ssl/certs");
  EXPECT_EQ(resolve(cert).tls.cert_file, "me.pem");
  EXPECT_EQ(resolve(cert).tls.key_file, "me.key");
}

TEST(CliTransportArgs, InsecureAndTlsVersionAloneDoNotTurnTlsOn) {
  TransportArgs a;
  a.insecure = true;
  a.tls_version = "tlsv1.3";
  EXPECT_EQ(resolve(a).transport, TransportKind::tcp);
}

TEST(CliTransportArgs, InsecureSkipsOnlyTheNameCheck) {
  TransportArgs a;
  a.cafile = "ca.pem";
  a.insecure = true;
  const auto e = resolve(a);
  EXPECT_FALSE(e.tls.verify_server_name);
  EXPECT_FALSE(e.tls.insecure);  // the chain is still verified, as with mosquitto
  EXPECT_TRUE(resolve(TransportArgs{}).tls.verify_server_name);
}

TEST(CliTransportArgs, TlsVersionSetsTheMinimum) {
  TransportArgs a;
  a.cafile = "ca.pem";
  EXPECT_EQ(resolve(a).tls.min_version, client::TlsVersion::v1_2);
  a.tls_version = "tlsv1.3";
  EXPECT_EQ(resolve(a).tls.min_version, client::TlsVersion::v1_3);
}

TEST(CliTransportArgs, CertAndKeyGoTogether) {
  TransportArgs a;
  a.cert = "me.pem";
  EXPECT_NE(refusal(a).find("--cert and --key"), std::string::npos);
  TransportArgs b;
  b.key = "me.key";
  EXPECT_NE(refusal(b).find("--cert and --key"), std::string::npos);
}

TEST(CliTransportArgs, UrlGivesTransportHostAndPort) {
  TransportArgs a;
  a.url = "wss://broker.example:9443/ws";
  const auto e = resolve(a);
  EXPECT_EQ(e.transport, TransportKind::wss);
  EXPECT_EQ(e.host, "broker.example");
  EXPECT_EQ(e.port, 9443);
  EXPECT_EQ(e.ws_path, "/ws");
  EXPECT_FALSE(e.topic);
}

TEST(CliTransportArgs, WebSocketPathDefaultsToMqtt) {
  TransportArgs a;
  a.url = "ws://127.0.0.1:8080";
  EXPECT_EQ(resolve(a).ws_path, "/mqtt");
  EXPECT_EQ(resolve(a).port, 8080);
}

TEST(CliTransportArgs, MqttUrlPathIsTheTopic) {
  TransportArgs a;
  a.url = "mqtt://u:p@127.0.0.1:1884/sensors/+/temp";
  const auto e = resolve(a);
  EXPECT_EQ(e.transport, TransportKind::tcp);
  EXPECT_EQ(e.topic.value_or(""), "sensors/+/temp");
  EXPECT_EQ(e.username.value_or(""), "u");
  EXPECT_EQ(e.password.value_or(""), "p");
  a.url = "mqtts://h/";
  EXPECT_FALSE(resolve(a).topic);
  EXPECT_EQ(resolve(a).port, 8883);
}

TEST(CliTransportArgs, TlsUrlUsesTheCaFlags) {
  TransportArgs a;
  a.url = "mqtts://h";
  a.cafile = "ca.pem";
  EXPECT_EQ(resolve(a).tls.ca_file, "ca.pem");
  a.url = "wss://h";
  EXPECT_EQ(resolve(a).transport, TransportKind::wss);
}

TEST(CliTransportArgs, UrlRefusesHostPortAndTlsFilesWithAPlainScheme) {
  TransportArgs a;
  a.url = "mqtt://h";
  EXPECT_NE(refusal(a, "other").find("-h or -p"), std::string::npos);
  EXPECT_NE(refusal(a, std::nullopt, 1884).find("-h or -p"), std::string::npos);
  a.cafile = "ca.pem";
  EXPECT_NE(refusal(a).find("mqtt://"), std::string::npos);
  a.url = "ws://h";
  EXPECT_NE(refusal(a).find("ws://"), std::string::npos);
}

TEST(CliTransportArgs, InvalidUrlSaysWhy) {
  TransportArgs a;
  a.url = "http://h";
  EXPECT_NE(refusal(a).find("unsupported scheme"), std::string::npos);
}

TEST(CliTransportArgs, ApplyCopiesTheEndpointIntoClientOptions) {
  TransportArgs a;
  a.url = "wss://h:1/p";
  a.cafile = "ca.pem";
  client::ClientOptions o;
  apply_endpoint(resolve(a), o);
  EXPECT_EQ(o.transport, TransportKind::wss);
  EXPECT_EQ(o.host, "h");
  EXPECT_EQ(o.port, 1);
  EXPECT_EQ(o.ws_path, "/p");
  EXPECT_EQ(o.tls.ca_file, "ca.pem");
}

}  // namespace
}  // namespace hermod::cli
