#include "broker/config/config.hpp"

#include <gtest/gtest.h>

namespace hermod::broker {
namespace {

std::string error_of(const std::string& text) {
  try {
    parse_config(text, "test.toml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(Config, EmptyFileGivesDefaults) {
  const Config c = parse_config("", "test.toml");
  EXPECT_EQ(c.listeners.size(), 2u);
  EXPECT_EQ(c.listeners[0].port, 1883);
  EXPECT_EQ(c.limits.max_inflight, 20);
  EXPECT_EQ(c.sys_interval, 10u);
}

TEST(Config, ReadsEverySection) {
  const Config c = parse_config(R"(
[broker]
workers = 3
log_level = "debug"
log_format = "json"
sys_interval = 1
[[listeners]]
bind = "127.0.0.2"
port = 1999
[limits]
max_inflight = 5
max_queued_messages = 7
max_queued_bytes = 100
connect_timeout = 2
queue_qos0 = true
[store]
path = "/tmp/x"
ack_on_delivery_ms = 0
)", "test.toml");
  EXPECT_EQ(c.workers, 3u);
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.log_format, "json");
  EXPECT_EQ(parse_config("", "test.toml").log_format, "text");
  ASSERT_EQ(c.listeners.size(), 1u);
  EXPECT_EQ(c.listeners[0].bind, "127.0.0.2");
  EXPECT_EQ(c.listeners[0].port, 1999);
  EXPECT_EQ(c.limits.max_inflight, 5);
  EXPECT_EQ(c.limits.max_queued_messages, 7u);
  EXPECT_EQ(c.limits.max_queued_bytes, 100u);
  EXPECT_EQ(c.limits.connect_timeout, 2u);
  EXPECT_TRUE(c.limits.queue_qos0);
  EXPECT_EQ(c.data_dir, "/tmp/x");
  EXPECT_EQ(c.ack_on_delivery_ms, 0u);
  EXPECT_EQ(parse_config("", "test.toml").ack_on_delivery_ms, 10u);
}

TEST(Config, OutOfRangeValueNamesFileLineAndKey) {
  EXPECT_EQ(error_of("\n[limits]\nmax_inflight = 0\n"),
            "test.toml:3: limits.max_inflight: must be between 1 and 65535");
  EXPECT_EQ(error_of("[store]\nack_on_delivery_ms = -1\n"),
            "test.toml:2: store.ack_on_delivery_ms: must be between 0 and 60000");
}

TEST(Config, UnknownKeyIsAnError) {
  EXPECT_EQ(error_of("[limits]\nmax_inflite = 3\n"), "test.toml:2: limits.max_inflite: unknown option");
  EXPECT_EQ(error_of("bogus = 1\n"), "test.toml:1: bogus: unknown option");
}

TEST(Config, WrongTypeIsAnError) {
  EXPECT_EQ(error_of("[broker]\nworkers = \"two\"\n"), "test.toml:2: broker.workers: must be an integer");
  EXPECT_EQ(error_of("[broker]\nlog_level = \"loud\"\n"),
            "test.toml:2: broker.log_level: must be one of trace, debug, info, warn, error, off");
  EXPECT_EQ(error_of("[broker]\nworkers = 1\nlog_format = \"xml\"\n"),
            "test.toml:3: broker.log_format: must be text or json");
  EXPECT_EQ(error_of("[broker]\nlog_format = 1\n"), "test.toml:2: broker.log_format: must be a string");
}

TEST(Config, SyntaxErrorNamesTheLine) {
  const auto e = error_of("[broker]\nworkers = = 2\n");
  EXPECT_EQ(e.rfind("test.toml:2: ", 0), 0u) << e;
}

TEST(Config, AuthPasswordFileIsRelativeToTheConfigFile) {
  const Config c = parse_config("[auth]\npassword_file = \"users/pw\"\n", "/etc/hermod/hermod.toml");
  EXPECT_EQ(c.auth.password_file, "/etc/hermod/users/pw");
  EXPECT_FALSE(c.auth.allow_anonymous) << "a password file refuses anonymous clients by default";
  const Config d = parse_config("[auth]\npassword_file = \"/srv/pw\"\nallow_anonymous = true\n", "/etc/h.toml");
  EXPECT_EQ(d.auth.password_file, "/srv/pw");
  EXPECT_TRUE(d.auth.allow_anonymous);
}

TEST(Config, NoPasswordFileMeansAnonymousClients) {
  const Config c = parse_config("", "test.toml");
  EXPECT_EQ(c.auth.password_file, "");
  EXPECT_TRUE(c.auth.allow_anonymous);
}

TEST(Config, AuthErrorsNameLineAndKey) {
  EXPECT_EQ(error_of("[auth]\nallow_anonymous = false\n"),
            "test.toml:2: auth.allow_anonymous: false needs auth.password_file (else no client could connect)");
  EXPECT_EQ(error_of("[auth]\npasword_file = \"x\"\n"), "test.toml:2: auth.pasword_file: unknown option");
  EXPECT_EQ(error_of("[auth]\npassword_file = 3\n"), "test.toml:2: auth.password_file: must be a string");
}

TEST(Config, AclFileIsRelativeToTheConfigFile) {
  const Config c = parse_config("[auth]\nacl_file = \"acl\"\ndisconnect_removed_users = true\n", "/etc/hermod/h.toml");
  EXPECT_EQ(c.auth.acl_file, "/etc/hermod/acl");
  EXPECT_TRUE(c.auth.disconnect_removed_users);
}

TEST(Config, ListenerAddressListsAndConnectionLimit) {
  const Config c = parse_config("[[listeners]]\nport = 1\nmax_connections = 5\nallow = [\"10.0.0.0/8\", \"::1\"]\n"
                                "deny = [\"10.1.0.0/16\"]\n",
                                "test.toml");
  ASSERT_EQ(c.listeners.size(), 1u);
  EXPECT_EQ(c.listeners[0].max_connections, 5u);
  EXPECT_EQ(c.listeners[0].allow.size(), 2u);
  EXPECT_EQ(c.listeners[0].deny.size(), 1u);
  EXPECT_EQ(error_of("[[listeners]]\nport = 1\nallow = [\"10.0.0.0/33\"]\n"),
            "test.toml:3: listeners[0].allow: \"10.0.0.0/33\": not an address or ADDRESS/PREFIX range");
}

TEST(Config, ClientLimitsAndTheMemoryBudget) {
  const Config c = parse_config("[limits]\nmessage_rate = 10\nbyte_rate = 1000\nmax_subscriptions = 3\n"
                                "max_topic_length = 100\nmax_topic_depth = 4\nmemory_budget = 0\n",
                                "test.toml");
  EXPECT_EQ(c.limits.message_rate, 10u);
  EXPECT_EQ(c.limits.byte_rate, 1000u);
  EXPECT_EQ(c.limits.max_subscriptions, 3u);
  EXPECT_EQ(c.limits.max_topic_length, 100u);
  EXPECT_EQ(c.limits.max_topic_depth, 4u);
  EXPECT_EQ(c.limits.memory_budget, 0u);
  const Limits defaults;
  EXPECT_GT(defaults.memory_budget, 0u) << "a budget by default";
  EXPECT_EQ(error_of("[limits]\nmemory_budget = 1000\n"),
            "test.toml:2: limits.memory_budget: must be 0 (no budget) or at least 1048576 (1 MiB)");
}

TEST(Config, AddressLimitsLoginDelayAndFlapping) {
  const Config c = parse_config(
      "[limits]\nmax_connections_per_address = 5\naddress_prefix_v4 = 24\naddress_prefix_v6 = 56\n"
      "connect_rate_per_address = 3\nlogin_failure_delay_ms = 100\nlogin_failure_delay_max_ms = 800\n"
      "login_failure_quiet_period = 30\nflapping_connects = 4\nflapping_window = 5\nflapping_ban = 7\n",
      "test.toml");
  EXPECT_EQ(c.limits.max_connections_per_address, 5u);
  EXPECT_EQ(c.limits.address_prefix_v4, 24u);
  EXPECT_EQ(c.limits.address_prefix_v6, 56u);
  EXPECT_EQ(c.limits.connect_rate_per_address, 3u);
  EXPECT_EQ(c.limits.login_failure_delay_ms, 100u);
  EXPECT_EQ(c.limits.login_failure_delay_max_ms, 800u);
  EXPECT_EQ(c.limits.login_failure_quiet_period, 30u);
  EXPECT_EQ(c.limits.flapping_connects, 4u);
  EXPECT_EQ(c.limits.flapping_window, 5u);
  EXPECT_EQ(c.limits.flapping_ban, 7u);
  const Limits defaults;
  EXPECT_EQ(defaults.max_connections_per_address, 0u) << "no per-address limit by default";
  EXPECT_GT(defaults.login_failure_delay_ms, 0u) << "failed logins are delayed by default";
  EXPECT_GT(defaults.flapping_connects, 0u) << "the flapping ban is on by default";
  EXPECT_EQ(error_of("[limits]\naddress_prefix_v4 = 33\n").rfind("test.toml:2: limits.address_prefix_v4:", 0), 0u);
  EXPECT_EQ(error_of("[limits]\nlogin_failure_delay_ms = 500\nlogin_failure_delay_max_ms = 100\n"),
            "test.toml:3: limits.login_failure_delay_max_ms: must be at least login_failure_delay_ms");
}

TEST(Config, AReloadTakesTheAddressLimits) {
  Config running = parse_config("[limits]\nmax_connections_per_address = 5\n", "test.toml");
  const Config file = parse_config("[limits]\nmax_connections_per_address = 1\nconnect_rate_per_address = 2\n"
                                   "address_prefix_v6 = 48\nlogin_failure_delay_ms = 0\nflapping_connects = 0\n",
                                   "test.toml");
  (void)apply_reloadable(file, running);
  EXPECT_EQ(running.limits.max_connections_per_address, 1u);
  EXPECT_EQ(running.limits.connect_rate_per_address, 2u);
  EXPECT_EQ(running.limits.address_prefix_v6, 48u);
  EXPECT_EQ(running.limits.login_failure_delay_ms, 0u);
  EXPECT_EQ(running.limits.flapping_connects, 0u);
}

TEST(Config, AReloadTakesTheHttpTokensAndMetricsAuthButNotThePort) {
  Config running = parse_config("[http]\nport = 8080\n[http.admin_tokens]\na = \"0123456789abcdef\"\n", "test.toml");
  const Config file = parse_config("[http]\nport = 9090\nmetrics_auth = true\n[http.admin_tokens]\n"
                                   "b = \"fedcba9876543210\"\n",
                                   "test.toml");
  (void)apply_reloadable(file, running);
  EXPECT_TRUE(running.http.metrics_auth);
  ASSERT_EQ(running.http.admin_tokens.size(), 1u);
  EXPECT_EQ(running.http.admin_tokens[0].first, "b");
  EXPECT_EQ(running.http.port, 8080u) << "the HTTP listener's address changes only with a restart";
}

TEST(Config, DefaultListenersKnowTheirIndex) {
  const auto listeners = default_listeners();
  ASSERT_EQ(listeners.size(), 2u);
  EXPECT_EQ(listeners[0].index, 0u);
  EXPECT_EQ(listeners[1].index, 1u) << "Policy::listener(index) finds the reloaded keys by it";
}

TEST(Config, AReloadTakesOnlyTheReloadableKeys) {
  Config running = parse_config("[[listeners]]\nport = 1\n[limits]\nmax_inflight = 5\n", "test.toml");
  const Config file = parse_config("[[listeners]]\nport = 1\ndeny = [\"10.0.0.1\"]\n[[listeners]]\nport = 2\n"
                                   "[limits]\nmax_inflight = 9\nmessage_rate = 7\n[auth]\nacl_file = \"/a\"\n",
                                   "test.toml");
  EXPECT_TRUE(apply_reloadable(file, running).empty());
  EXPECT_EQ(running.limits.message_rate, 7u);
  EXPECT_EQ(running.limits.max_inflight, 5u) << "not reloadable: needs a restart";
  EXPECT_EQ(running.auth.acl_file, "/a");
  EXPECT_EQ(running.listeners.size(), 1u) << "listeners are not added by a reload";
  EXPECT_EQ(running.listeners[0].deny.size(), 1u);
  Config moved = parse_config("[[listeners]]\nport = 3\n", "test.toml");
  EXPECT_EQ(apply_reloadable(file, moved), std::vector<std::string>{"127.0.0.1:3"});
}

TEST(Config, TlsListenerReadsItsFilesRelativeToTheConfigFile) {
  const Config c = parse_config(R"(
[[listeners]]
port = 8883
transport = "tls"
cert_file = "tls/server.pem"
key_file = "/srv/server.key"
ca_file = "ca.pem"
client_certificates = "required"
identity_as_username = "cn"
tls_min_version = "1.3"
)",
                                "/etc/hermod/hermod.toml");
  ASSERT_EQ(c.listeners.size(), 1u);
  const auto& l = c.listeners[0];
  EXPECT_TRUE(l.is_tls());
  EXPECT_EQ(l.tls.cert_file, "/etc/hermod/tls/server.pem");
  EXPECT_EQ(l.tls.key_file, "/srv/server.key");
  EXPECT_EQ(l.tls.ca_file, "/etc/hermod/ca.pem");
  EXPECT_EQ(l.tls.client_certificates, net::ClientCertificates::required);
  EXPECT_EQ(l.identity_as_username, CertificateIdentity::common_name);
  EXPECT_EQ(l.tls.min_version, "1.3");
  EXPECT_EQ(l.name(), "127.0.0.1:8883");
}

TEST(Config, TlsListenerErrorsNameLineAndKey) {
  EXPECT_EQ(error_of("[[listeners]]\ntransport = \"quic\"\n"),
            "test.toml:2: listeners[0].transport: must be tcp, tls, ws or wss");
  EXPECT_EQ(error_of("[[listeners]]\ntransport = \"tls\"\nkey_file = \"k\"\n"),
            "test.toml:1: listeners[0].cert_file: transport \"tls\" needs a certificate");
  EXPECT_EQ(error_of("[[listeners]]\ncert_file = \"c\"\n"),
            "test.toml:2: listeners[0].cert_file: a TLS option: needs transport = \"tls\" or \"wss\"");
  EXPECT_EQ(error_of("[[listeners]]\ntransport = \"tls\"\ncert_file = \"c\"\nkey_file = \"k\"\n"
                     "client_certificates = \"required\"\n"),
            "test.toml:5: listeners[0].client_certificates: needs ca_file or ca_dir to verify them");
  EXPECT_EQ(error_of("[[listeners]]\ntransport = \"tls\"\ncert_file = \"c\"\nkey_file = \"k\"\n"
                     "client_certificates = \"maybe\"\n"),
            "test.toml:5: listeners[0].client_certificates: must be one of off, optional, required");
  EXPECT_EQ(error_of("[[listeners]]\ntransport = \"tls\"\ncert_file = \"c\"\nkey_file = \"k\"\n"
                     "tls_min_version = \"1.1\"\n"),
            "test.toml:5: listeners[0].tls_min_version: must be 1.2 or 1.3");
}

TEST(Config, WebSocketListenerReadsPathOriginsLimitAndProxies) {
  const auto c = parse_config(
      "[[listeners]]\nport = 9001\ntransport = \"ws\"\nws_path = \"/broker\"\n"
      "ws_origins = [\"https://app.example\", \"http://localhost:8080\"]\nws_max_message_size = 65536\n"
      "trusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\"]\n",
      "test.toml");
  const auto& l = c.listeners.at(0);
  EXPECT_TRUE(l.is_ws());
  EXPECT_FALSE(l.is_tls());
  EXPECT_EQ(l.ws_path, "/broker");
  EXPECT_EQ(l.ws_origins, (std::vector<std::string>{"https://app.example", "http://localhost:8080"}));
  EXPECT_EQ(l.ws_max_message_size, 65536u);
  ASSERT_EQ(l.trusted_proxies.size(), 2u);
  EXPECT_TRUE(l.trusted_proxies[1].contains(boost::asio::ip::make_address("10.9.8.7")));
  EXPECT_EQ(parse_config("[[listeners]]\ntransport = \"ws\"\n", "t").listeners.at(0).ws_path, "/mqtt");
}

TEST(Config, WssNeedsTheTlsKeysAndWebSocketKeysNeedAWebSocketListener) {
  EXPECT_EQ(error_of("[[listeners]]\ntransport = \"wss\"\nkey_file = \"k\"\n"),
            "test.toml:1: listeners[0].cert_file: transport \"wss\" needs a certificate");
  EXPECT_TRUE(parse_config("[[listeners]]\ntransport = \"wss\"\ncert_file = \"c\"\nkey_file = \"k\"\n", "t")
                  .listeners.at(0)
                  .is_tls());
  EXPECT_EQ(error_of("[[listeners]]\ntransport = \"tls\"\ncert_file = \"c\"\nkey_file = \"k\"\nws_path = \"/m\"\n"),
            "test.toml:5: listeners[0].ws_path: a WebSocket option: needs transport = \"ws\" or \"wss\"");
  EXPECT_EQ(error_of("[[listeners]]\ntransport = \"ws\"\nws_path = \"mqtt\"\n"),
            "test.toml:3: listeners[0].ws_path: must be a path starting with '/' (no query, no spaces)");
  EXPECT_EQ(error_of("[[listeners]]\ntransport = \"ws\"\nws_origins = [\"app.example\"]\n"),
            "test.toml:3: listeners[0].ws_origins: \"app.example\": an origin is scheme://host[:port], no path");
  EXPECT_EQ(error_of("[[listeners]]\ntransport = \"ws\"\nws_origins = [\"http://a.test/page\"]\n"),
            "test.toml:3: listeners[0].ws_origins: \"http://a.test/page\": an origin is scheme://host[:port], no path");
  EXPECT_EQ(error_of("[[listeners]]\nproxy_protocol = true\n"),
            "test.toml:2: listeners[0].proxy_protocol: needs trusted_proxies: the header is a claim, taken only from the "
            "proxies named there");
  EXPECT_EQ(error_of("[[listeners]]\nidentity_as_username = \"cn\"\n"),
            "test.toml:2: listeners[0].identity_as_username: needs transport = \"tls\" or \"wss\" with client "
            "certificates, or proxy_protocol = true");
  EXPECT_EQ(error_of("[[listeners]]\ntrusted_proxies = [\"10.1.0.0/8\"]\n"),
            "test.toml:2: listeners[0].trusted_proxies: \"10.1.0.0/8\": not an address or ADDRESS/PREFIX range");
}

}  // namespace
}  // namespace hermod::broker
