// `hermod convert-config`: each mosquitto key's conversion, checked by loading the TOML produced
// with Hermod's own configuration parser. What mosquitto itself does with these configurations
// is checked against Debian's mosquitto in tests/integration/test_convert_config.py.
#include "broker/config/mosquitto_convert.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "broker/config/config.hpp"
#include "temp_dir.hpp"

namespace hermod::broker::mosquitto {
namespace {

struct Converted {
  std::string toml;
  std::vector<std::string> warnings;  // "file:line: key: why"
  Config config;

  bool warned(const std::string& prefix) const {
    return std::any_of(warnings.begin(), warnings.end(), [&](const auto& w) { return w.rfind(prefix, 0) == 0; });
  }
  std::string all_warnings() const {
    std::string s;
    for (const auto& w : warnings) s += w + "\n";
    return s;
  }
};

class Convert : public ::testing::Test {
 protected:
  Converted run(const std::string& text) {
    ConvertOptions o;
    o.cwd = dir_.path();
    o.password_file_problem = problem_;
    o.acl_file_problem = acl_problem_;
    std::vector<Warning> w;
    Converted c;
    c.toml = convert_text(text, "m.conf", o, w);
    for (const auto& x : w) c.warnings.push_back(x.str());
    c.config = parse_config(c.toml, "converted.toml");
    return c;
  }

  std::string error(const std::string& text) {
    ConvertOptions o;
    o.cwd = dir_.path();
    std::vector<Warning> w;
    try {
      convert_text(text, "m.conf", o, w);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  }

  std::string abs(const std::string& name) const { return (dir_.path() / name).string(); }

  TempDir dir_;
  std::function<PasswordFileProblem(const std::string&)> problem_;
  std::function<std::string(const std::string&)> acl_problem_;
};

// --- listeners

TEST_F(Convert, NoListenerIsMosquittosLocalOnlyMode) {
  const auto c = run("sys_interval 10\n");
  ASSERT_EQ(c.config.listeners.size(), 2u) << c.toml;
  EXPECT_EQ(c.config.listeners[0].name(), "127.0.0.1:1883");
  EXPECT_EQ(c.config.listeners[1].name(), "[::1]:1883");
  EXPECT_TRUE(c.config.auth.allow_anonymous) << "local only mode lets anonymous clients in";
  EXPECT_TRUE(c.warnings.empty()) << c.all_warnings();
}

TEST_F(Convert, OutputSaysWhatItWasConvertedFrom) {
  const auto c = run("listener 1883\nallow_anonymous true\n");
  EXPECT_EQ(c.toml.rfind("# Hermod configuration converted from " + abs("m.conf") + "\n", 0), 0u) << c.toml;
}

TEST_F(Convert, PortStartsTheDefaultListenerOnEveryAddress) {
  const auto c = run("port 1884\nallow_anonymous true\n");
  ASSERT_EQ(c.config.listeners.size(), 1u);
  EXPECT_EQ(c.config.listeners[0].name(), "0.0.0.0:1884");
  EXPECT_NE(c.toml.find("every IPv4 and IPv6 address"), std::string::npos) << c.toml;
  EXPECT_TRUE(c.warnings.empty()) << c.all_warnings();
}

TEST_F(Convert, RepeatedPortTakesTheLastOne) {
  const auto c = run("port 1884\nport 1885\nallow_anonymous true\n");
  ASSERT_EQ(c.config.listeners.size(), 1u);
  EXPECT_EQ(c.config.listeners[0].port, 1885);
}

TEST_F(Convert, BindAddressSetsTheDefaultListenersAddress) {
  const auto c = run("bind_address 10.1.2.3\nallow_anonymous true\n");
  ASSERT_EQ(c.config.listeners.size(), 1u);
  EXPECT_EQ(c.config.listeners[0].name(), "10.1.2.3:1883");
}

TEST_F(Convert, EachListenerLineStartsAListenerAndTheKeysAfterItBelongToIt) {
  dir_.write("server.pem", "");
  dir_.write("server.key", "");
  const auto c = run(
      "allow_anonymous true\n"
      "listener 1883 127.0.0.1\n"
      "listener 8883 ::1\n"
      "certfile server.pem\n"
      "keyfile server.key\n"
      "listener 9001 127.0.0.1\n"
      "protocol websockets\n");
  ASSERT_EQ(c.config.listeners.size(), 3u) << c.toml;
  EXPECT_EQ(c.config.listeners[0].name(), "127.0.0.1:1883");
  EXPECT_EQ(c.config.listeners[0].transport, "tcp");
  EXPECT_EQ(c.config.listeners[1].name(), "[::1]:8883");
  EXPECT_EQ(c.config.listeners[1].transport, "tls");
  EXPECT_EQ(c.config.listeners[1].tls.cert_file, abs("server.pem"));
  EXPECT_EQ(c.config.listeners[2].name(), "127.0.0.1:9001");
  EXPECT_EQ(c.config.listeners[2].transport, "ws");
  EXPECT_TRUE(c.warnings.empty()) << c.all_warnings();
}

TEST_F(Convert, ListenerWithoutAddressListensOnEveryAddress) {
  const auto c = run("listener 1883\nallow_anonymous true\n");
  EXPECT_EQ(c.config.listeners[0].name(), "0.0.0.0:1883");
  EXPECT_EQ(run("listener 1883\nsocket_domain ipv6\nallow_anonymous true\n").config.listeners[0].name(), "[::]:1883");
  const auto v4 = run("listener 1883\nsocket_domain ipv4\nallow_anonymous true\n");
  EXPECT_EQ(v4.config.listeners[0].name(), "0.0.0.0:1883");
  EXPECT_EQ(v4.toml.find("every IPv4 and IPv6"), std::string::npos) << "socket_domain ipv4 is exact";
}

TEST_F(Convert, ListenerOptionBeforeTheFirstListenerStartsTheDefaultListener) {
  // mosquitto 2.0.11 opens port 1883 on every address for this, besides 8883.
  const auto c = run("max_connections 4\nlistener 8883 127.0.0.1\nallow_anonymous true\n");
  ASSERT_EQ(c.config.listeners.size(), 2u) << c.toml;
  EXPECT_EQ(c.config.listeners[0].name(), "0.0.0.0:1883");
  EXPECT_EQ(c.config.listeners[1].name(), "127.0.0.1:8883");
}

TEST_F(Convert, DefaultListenerOptionWithoutADefaultListenerIsAWarning) {
  const auto c = run("tls_version tlsv1.3\nlistener 8883 127.0.0.1\nallow_anonymous true\n");
  ASSERT_EQ(c.config.listeners.size(), 1u);
  EXPECT_TRUE(c.warned("m.conf:1: tls_version: sets mosquitto's default listener, which does not run"))
      << c.all_warnings();
}

TEST_F(Convert, LocalhostIsTheIpv4Loopback) {
  EXPECT_EQ(run("listener 1883 localhost\nallow_anonymous true\n").config.listeners[0].name(), "127.0.0.1:1883");
}

TEST_F(Convert, HostNameIsAnError) {
  EXPECT_EQ(error("listener 1883 mqtt.example.com\n").rfind("m.conf:1: listener: \"mqtt.example.com\": Hermod "
                                                            "listens on IP addresses",
                                                            0),
            0u);
}

TEST_F(Convert, PortOutOfRangeIsAnError) {
  EXPECT_EQ(error("listener 70000\n"),
            "m.conf:1: listener: port 70000 is out of range: mosquitto takes 1 to 65535 (0 with a unix socket path)");
  EXPECT_EQ(error("\nport 0\n"), "m.conf:2: port: 0 is out of range: mosquitto takes 1 to 65535");
  EXPECT_EQ(error("listener x\n"), "m.conf:1: listener: \"x\" is not a whole number");
}

TEST_F(Convert, TwoListenersOnOnePortAndAddressAreAnError) {
  EXPECT_EQ(error("listener 1883 127.0.0.1\nlistener 1883 127.0.0.1\n"),
            "m.conf:2: listener: a second listener on the same port and address as m.conf:1 (mosquitto cannot "
            "start with both)");
  // mosquitto's default listener on every address and a listener on the same port overlap too.
  EXPECT_EQ(error("port 1883\nlistener 1883 127.0.0.1\n").rfind("m.conf:2: listener: listens on port 1883 like "
                                                               "the listener at m.conf:1",
                                                               0),
            0u);
}

TEST_F(Convert, UnixSocketListenerIsNotCarriedOver) {
  const auto c = run("listener 1883 127.0.0.1\nlistener 0 /run/mosquitto.sock\nmax_qos 1\nallow_anonymous true\n");
  ASSERT_EQ(c.config.listeners.size(), 1u);
  EXPECT_TRUE(c.warned("m.conf:2: listener: unix socket listeners are not supported by Hermod; this listener is "
                       "not carried over"))
      << c.all_warnings();
  EXPECT_TRUE(c.warned("m.conf:3: max_qos: belongs to the listener at m.conf:2, which is not carried over"))
      << c.all_warnings();
}

TEST_F(Convert, ListenerConfinedByBindInterfaceOrMountPointIsNotCarriedOver) {
  const auto c = run(
      "listener 1883 127.0.0.1\n"
      "listener 1884\nbind_interface eth0\n"
      "listener 1885\nmount_point tenant/\n"
      "allow_anonymous true\n");
  ASSERT_EQ(c.config.listeners.size(), 1u) << c.toml;
  EXPECT_TRUE(c.warned("m.conf:3: bind_interface: Hermod binds addresses")) << c.all_warnings();
  EXPECT_TRUE(c.warned("m.conf:5: mount_point: mount points are not supported")) << c.all_warnings();
}

TEST_F(Convert, NoListenerLeftIsAnError) {
  EXPECT_EQ(error("listener 0 /run/m.sock\n").rfind("m.conf: no listener can be carried over", 0), 0u);
}

// --- protocol and TLS

TEST_F(Convert, WebsocketsWithCertificateAndKeyIsWss) {
  const auto c = run("listener 8081 127.0.0.1\nprotocol websockets\ncertfile /c.pem\nkeyfile /k.pem\n"
                     "allow_anonymous true\n");
  EXPECT_EQ(c.config.listeners[0].transport, "wss");
  EXPECT_NE(c.toml.find("ws_path"), std::string::npos) << "the comment about paths";
}

TEST_F(Convert, BadProtocolIsAnError) {
  EXPECT_EQ(error("listener 1883\nprotocol http\n"),
            "m.conf:2: protocol: must be mqtt or websockets (mosquitto refuses \"http\")");
}

TEST_F(Convert, TlsFilesAreResolvedAgainstTheWorkingDirectory) {
  const auto c = run(
      "listener 8883 127.0.0.1\n"
      "certfile certs/server.pem\nkeyfile certs/../certs/server.key\n"
      "cafile /etc/ca.pem\ncapath ca.d\n"
      "require_certificate true\ncrlfile crl.pem\n"
      "allow_anonymous true\n");
  const auto& t = c.config.listeners[0].tls;
  EXPECT_EQ(t.cert_file, abs("certs/server.pem"));
  EXPECT_EQ(t.key_file, abs("certs/server.key"));
  EXPECT_EQ(t.ca_file, "/etc/ca.pem");
  EXPECT_EQ(t.ca_dir, abs("ca.d"));
  EXPECT_EQ(t.crl_file, abs("crl.pem"));
  EXPECT_EQ(t.client_certificates, net::ClientCertificates::required);
}

TEST_F(Convert, RequireCertificateFalseAsksForNoCertificate) {
  // mosquitto.conf(5): with require_certificate false the client need not present anything.
  const auto c = run("listener 8883 127.0.0.1\ncertfile /c\nkeyfile /k\ncafile /ca\nrequire_certificate false\n"
                     "allow_anonymous true\n");
  EXPECT_EQ(c.config.listeners[0].tls.client_certificates, net::ClientCertificates::off);
  EXPECT_EQ(c.config.listeners[0].tls.ca_file, "/ca");
}

TEST_F(Convert, CrlWithoutRequireCertificateIsAWarning) {
  const auto c = run("listener 8883 127.0.0.1\ncertfile /c\nkeyfile /k\ncrlfile /crl\nallow_anonymous true\n");
  EXPECT_EQ(c.config.listeners[0].tls.crl_file, "");
  EXPECT_TRUE(c.warned("m.conf:4: crlfile: no effect without require_certificate true")) << c.all_warnings();
}

TEST_F(Convert, IdentityAsUsername) {
  const std::string tls = "listener 8883 127.0.0.1\ncertfile /c\nkeyfile /k\ncafile /ca\nrequire_certificate true\n";
  EXPECT_EQ(run(tls + "use_identity_as_username true\n").config.listeners[0].identity_as_username,
            CertificateIdentity::common_name);
  EXPECT_EQ(run(tls + "use_subject_as_username true\n").config.listeners[0].identity_as_username,
            CertificateIdentity::subject);
  // mosquitto.conf(5): the identity takes priority when both are true.
  EXPECT_EQ(run(tls + "use_subject_as_username true\nuse_identity_as_username true\n")
                .config.listeners[0]
                .identity_as_username,
            CertificateIdentity::common_name);
}

TEST_F(Convert, ListenerThatMosquittoRefusesEveryClientOfIsNotCarriedOver) {
  const std::string plain = "listener 1883 127.0.0.1\nallow_anonymous true\n";
  auto c = run(plain + "listener 8883 127.0.0.1\ncertfile /c\nkeyfile /k\nrequire_certificate true\n");
  EXPECT_EQ(c.config.listeners.size(), 1u);
  EXPECT_TRUE(c.warned("m.conf:6: require_certificate: true without cafile or capath")) << c.all_warnings();
  c = run(plain + "listener 8883 127.0.0.1\ncertfile /c\nkeyfile /k\ncafile /ca\nuse_identity_as_username true\n");
  EXPECT_EQ(c.config.listeners.size(), 1u);
  EXPECT_TRUE(c.warned("m.conf:7: use_identity_as_username: true without require_certificate")) << c.all_warnings();
}

TEST_F(Convert, TlsKeysWithoutCertificateAndKeyAreWarningsOnAPlainListener) {
  const auto c = run("listener 1883 127.0.0.1\ncertfile /c\ncafile /ca\nrequire_certificate true\n"
                     "allow_anonymous true\n");
  EXPECT_EQ(c.config.listeners[0].transport, "tcp");
  for (const char* w : {"m.conf:2: certfile: no effect without both certfile and keyfile",
                        "m.conf:3: cafile: no effect without", "m.conf:4: require_certificate: no effect without"}) {
    EXPECT_TRUE(c.warned(w)) << w << "\n" << c.all_warnings();
  }
}

TEST_F(Convert, TlsVersion) {
  const std::string tls = "listener 8883 127.0.0.1\ncertfile /c\nkeyfile /k\nallow_anonymous true\n";
  EXPECT_EQ(run(tls + "tls_version tlsv1.3\n").config.listeners[0].tls.min_version, "1.3");
  EXPECT_EQ(run(tls + "tls_version tlsv1.2\n").config.listeners[0].tls.min_version, "1.2");
  const auto c = run(tls + "tls_version tlsv1.1\n");
  EXPECT_EQ(c.config.listeners[0].tls.min_version, "1.2");
  EXPECT_TRUE(c.warned("m.conf:5: tls_version: Hermod offers TLS 1.2 and 1.3 only")) << c.all_warnings();
  EXPECT_EQ(error(tls + "tls_version TLSv1.2\n"),
            "m.conf:5: tls_version: must be tlsv1.3, tlsv1.2 or tlsv1.1 (mosquitto refuses \"TLSv1.2\")");
}

TEST_F(Convert, Ciphers) {
  const auto c = run("listener 8883 127.0.0.1\ncertfile /c\nkeyfile /k\nciphers ECDHE+AESGCM:!aNULL\n"
                     "ciphers_tls1.3 TLS_AES_256_GCM_SHA384\nallow_anonymous true\n");
  EXPECT_EQ(c.config.listeners[0].tls.ciphers, "ECDHE+AESGCM:!aNULL");
  EXPECT_EQ(c.config.listeners[0].tls.ciphersuites, "TLS_AES_256_GCM_SHA384");
}

TEST_F(Convert, RepeatedStringOptionIsAnErrorAsInMosquitto) {
  EXPECT_EQ(error("listener 8883\ncertfile /a\ncertfile /b\n"),
            "m.conf:3: certfile: given twice, first at m.conf:2 (mosquitto refuses that)");
  // In two listeners it is not repeated.
  EXPECT_EQ(run("listener 8883 127.0.0.1\ncertfile /a\nkeyfile /k\nlistener 8884 127.0.0.1\ncertfile /b\n"
                "keyfile /k\nallow_anonymous true\n")
                .config.listeners[1]
                .tls.cert_file,
            "/b");
}

// --- auth

TEST_F(Convert, ListenerWithoutAuthRefusesEveryoneLikeMosquitto) {
  // mosquitto 2: allow_anonymous defaults to false once a listener is configured; with no
  // password file nobody gets in.
  const auto c = run("listener 1883 127.0.0.1\n");
  EXPECT_FALSE(c.config.auth.allow_anonymous);
  EXPECT_EQ(c.config.auth.password_file, "/dev/null");
  EXPECT_TRUE(c.warned("m.conf: allow_anonymous: false (mosquitto's default once a listener is configured)"))
      << c.all_warnings();
}

TEST_F(Convert, AllowAnonymous) {
  EXPECT_TRUE(run("listener 1883 127.0.0.1\nallow_anonymous true\n").config.auth.allow_anonymous);
  EXPECT_FALSE(run("allow_anonymous false\n").config.auth.allow_anonymous) << "local only mode too";
  EXPECT_EQ(error("listener 1883\nallow_anonymous yes\n"),
            "m.conf:2: allow_anonymous: \"yes\" is not true or false (mosquitto refuses it too)");
  // A boolean given twice takes the last value.
  EXPECT_TRUE(run("listener 1883\nallow_anonymous false\nallow_anonymous true\n").config.auth.allow_anonymous);
}

TEST_F(Convert, PasswordFileHermodCanReadIsCarriedOver) {
  problem_ = [](const std::string&) { return PasswordFileProblem{}; };
  const auto c = run("listener 1883 127.0.0.1\npassword_file users.pw\n");
  EXPECT_EQ(c.config.auth.password_file, abs("users.pw"));
  EXPECT_FALSE(c.config.auth.allow_anonymous);
  EXPECT_TRUE(c.warnings.empty()) << c.all_warnings();
}

TEST_F(Convert, PasswordFileHermodCannotReadBecomesAnEmptyOneWithAWarning) {
  dir_.write("passwd", "alice:$7$101$salt$hash\nbob:$7$101$salt$hash\n");
  problem_ = [](const std::string& path) {
    return PasswordFileProblem{path + ":1: user \"alice\": the salt is not base64", false};
  };
  const auto c = run("listener 1883 127.0.0.1\npassword_file passwd\nallow_anonymous true\n");
  EXPECT_EQ(c.config.auth.password_file, "/dev/null");
  EXPECT_TRUE(c.config.auth.allow_anonymous);
  EXPECT_TRUE(c.warned("m.conf:2: password_file: Hermod cannot read this file")) << c.all_warnings();
  EXPECT_NE(c.all_warnings().find("(alice, bob)"), std::string::npos) << c.all_warnings();
  EXPECT_NE(c.toml.find("hermod passwd"), std::string::npos) << c.toml;
}

TEST_F(Convert, PlainTextPasswordFileIsNamedWithAWarningToRunHermodPasswdU) {
  dir_.write("passwd", "alice:secret\n");
  problem_ = [](const std::string& path) {
    return PasswordFileProblem{path + ":1: user \"alice\" has a plain-text password", true};
  };
  const auto c = run("listener 1883 127.0.0.1\npassword_file passwd\n");
  EXPECT_EQ(c.config.auth.password_file, abs("passwd")) << "once hashed, the same file serves";
  EXPECT_TRUE(c.warned("m.conf:2: password_file: the file holds plain-text passwords")) << c.all_warnings();
  EXPECT_NE(c.all_warnings().find("Run `hermod passwd -U " + abs("passwd") + "` before starting Hermod"),
            std::string::npos)
      << c.all_warnings();
  EXPECT_NE(c.toml.find("hermod passwd -U"), std::string::npos) << c.toml;
}

TEST_F(Convert, PerListenerSettingsThatAgreeBecomeTheGlobalOnes) {
  problem_ = [](const std::string&) { return PasswordFileProblem{}; };
  const auto c = run("per_listener_settings true\nlistener 1883 127.0.0.1\npassword_file /pw\n"
                     "listener 1884 127.0.0.1\npassword_file /pw\n");
  EXPECT_EQ(c.config.auth.password_file, "/pw");
  EXPECT_FALSE(c.config.auth.allow_anonymous);
  EXPECT_TRUE(c.warnings.empty()) << c.all_warnings();
}

TEST_F(Convert, PerListenerSettingsThatDifferBecomeTheStrictest) {
  problem_ = [](const std::string&) { return PasswordFileProblem{}; };
  const auto c = run("per_listener_settings true\n"
                     "listener 1883 127.0.0.1\nallow_anonymous true\n"
                     "listener 1884 127.0.0.1\npassword_file /pw\n");
  EXPECT_EQ(c.config.auth.password_file, "/pw");
  EXPECT_FALSE(c.config.auth.allow_anonymous);
  EXPECT_TRUE(c.warned("m.conf:1: per_listener_settings: the listeners differ in allow_anonymous"))
      << c.all_warnings();
  EXPECT_TRUE(c.warned("m.conf:2: per_listener_settings: the listener at m.conf:2 has no password_file"))
      << c.all_warnings();
}

TEST_F(Convert, PerListenerSettingsAfterASecurityOptionIsAnError) {
  EXPECT_EQ(error("allow_anonymous true\nper_listener_settings true\n"),
            "m.conf:2: per_listener_settings: must come before every security option (mosquitto refuses it here)");
}

// --- limits, store, broker

TEST_F(Convert, MaxConnectionsStaysWithItsListener) {
  const auto one = run("listener 1883 127.0.0.1\nmax_connections 50\nallow_anonymous true\n");
  EXPECT_EQ(one.config.listeners[0].max_connections, 50u);
  EXPECT_EQ(one.config.limits.max_connections, 0u) << "not summed into the global limit";
  EXPECT_TRUE(one.warnings.empty()) << one.all_warnings();
  // -1 (mosquitto's default) and 0 mean no limit, as Hermod's 0 does.
  EXPECT_EQ(run("listener 1883 127.0.0.1\nmax_connections -1\nallow_anonymous true\n").config.listeners[0].max_connections,
            0u);
  EXPECT_EQ(run("listener 1883 127.0.0.1\nmax_connections 0\nallow_anonymous true\n").config.listeners[0].max_connections,
            0u);
  const auto two = run("listener 1883 127.0.0.1\nmax_connections 50\nlistener 1884 127.0.0.1\n"
                       "listener 1885 127.0.0.1\nmax_connections 20\nallow_anonymous true\n");
  ASSERT_EQ(two.config.listeners.size(), 3u);
  EXPECT_EQ(two.config.listeners[0].max_connections, 50u);
  EXPECT_EQ(two.config.listeners[1].max_connections, 0u) << "a listener without a limit keeps none";
  EXPECT_EQ(two.config.listeners[2].max_connections, 20u);
  EXPECT_EQ(two.config.limits.max_connections, 0u);
  EXPECT_TRUE(two.warnings.empty()) << two.all_warnings();
  const auto default_listener = run("max_connections 4\nlistener 8883 127.0.0.1\nallow_anonymous true\n");
  EXPECT_EQ(default_listener.config.listeners[0].max_connections, 4u) << "the default listener's";
  EXPECT_EQ(default_listener.config.listeners[1].max_connections, 0u);
}

TEST_F(Convert, MemoryLimitBecomesTheMemoryBudgetWithAWarning) {
  const auto c = run("listener 1883 127.0.0.1\nallow_anonymous true\nmemory_limit 268435456\n");
  EXPECT_EQ(c.config.limits.memory_budget, 268435456u);
  EXPECT_TRUE(c.warned("m.conf:3: memory_limit: limits.memory_budget = 268435456: Hermod counts what its queues "
                       "hold, not the whole heap"))
      << c.all_warnings();
  const auto small = run("listener 1883 127.0.0.1\nallow_anonymous true\nmemory_limit 1000\n");
  EXPECT_EQ(small.config.limits.memory_budget, 1048576u);
  EXPECT_TRUE(small.warned("m.conf:3: memory_limit: limits.memory_budget = 1048576 (Hermod's smallest)"))
      << small.all_warnings();
  const auto none = run("listener 1883 127.0.0.1\nallow_anonymous true\nmemory_limit 0\n");
  EXPECT_EQ(none.config.limits.memory_budget, Limits{}.memory_budget) << "Hermod's default budget stays";
  EXPECT_TRUE(none.warned("m.conf:3: memory_limit: 0 (no limit, mosquitto's default) is not carried over"))
      << none.all_warnings();
  EXPECT_EQ(run("listener 1883 127.0.0.1\nallow_anonymous true\n").config.limits.memory_budget,
            Limits{}.memory_budget);
  EXPECT_EQ(error("listener 1883\nmemory_limit -1\n"), "m.conf:2: memory_limit: -1 is negative (mosquitto refuses it)");
}

TEST_F(Convert, AclFileIsCarriedOverAsItIs) {
  const auto c = run("listener 1883 127.0.0.1\nallow_anonymous true\nacl_file acl\n");
  EXPECT_EQ(c.config.auth.acl_file, abs("acl"));
  EXPECT_TRUE(c.warnings.empty()) << c.all_warnings();
  EXPECT_EQ(run("listener 1883 127.0.0.1\nallow_anonymous true\n").config.auth.acl_file, "");
}

TEST_F(Convert, AclFileHermodCannotReadIsAWarning) {
  acl_problem_ = [](const std::string& path) { return path + ":2: topic: unknown access \"sometimes\""; };
  const auto c = run("listener 1883 127.0.0.1\nallow_anonymous true\nacl_file acl\n");
  EXPECT_EQ(c.config.auth.acl_file, abs("acl")) << "named as it is: Hermod refuses to start with it, failing closed";
  EXPECT_TRUE(c.warned("m.conf:3: acl_file: Hermod cannot read this file (" + abs("acl") + ":2: topic:"))
      << c.all_warnings();
}

TEST_F(Convert, PerListenerAclFilesBecomeOneWithWarnings) {
  const auto c = run("per_listener_settings true\n"
                     "listener 1883 127.0.0.1\nallow_anonymous true\nacl_file /a.acl\n"
                     "listener 1884 127.0.0.1\nallow_anonymous true\nacl_file /b.acl\n"
                     "listener 1885 127.0.0.1\nallow_anonymous true\n");
  EXPECT_EQ(c.config.auth.acl_file, "/a.acl");
  EXPECT_TRUE(c.warned("m.conf:7: acl_file: Hermod has one ACL file for every listener: /a.acl (m.conf:4) is used "
                       "instead"))
      << c.all_warnings();
  EXPECT_TRUE(c.warned("m.conf:8: per_listener_settings: the listener at m.conf:8 has no acl_file, so mosquitto let "
                       "its clients use every topic; Hermod applies /a.acl on every listener"))
      << c.all_warnings();
  const auto same = run("per_listener_settings true\n"
                        "listener 1883 127.0.0.1\nallow_anonymous true\nacl_file /a.acl\n"
                        "listener 1884 127.0.0.1\nallow_anonymous true\nacl_file /a.acl\n");
  EXPECT_EQ(same.config.auth.acl_file, "/a.acl");
  EXPECT_TRUE(same.warnings.empty()) << same.all_warnings();
}

TEST_F(Convert, InflightAndQueueLimits) {
  const auto c = run("listener 1883 127.0.0.1\nallow_anonymous true\nmax_inflight_messages 5\n"
                     "max_queued_messages 300\nmax_queued_bytes 1000000\nqueue_qos0_messages true\n");
  EXPECT_EQ(c.config.limits.max_inflight, 5u);
  EXPECT_EQ(c.config.limits.max_queued_messages, 300u);
  EXPECT_EQ(c.config.limits.max_queued_bytes, 1'000'000u);
  EXPECT_TRUE(c.config.limits.queue_qos0);
  EXPECT_TRUE(c.warnings.empty()) << c.all_warnings();
}

TEST_F(Convert, ZeroMeansNoLimitInMosquitto) {
  const auto c = run("listener 1883 127.0.0.1\nallow_anonymous true\nmax_inflight_messages 0\nmax_queued_messages 0\n");
  EXPECT_EQ(c.config.limits.max_inflight, 65'535u);
  EXPECT_EQ(c.config.limits.max_queued_messages, 100'000'000u);
  EXPECT_TRUE(c.warned("m.conf:3: max_inflight_messages: no limit in mosquitto")) << c.all_warnings();
  EXPECT_TRUE(c.warned("m.conf:4: max_queued_messages: no limit in mosquitto")) << c.all_warnings();
}

TEST_F(Convert, MessageSizeLimitBecomesAPacketLimitWithAWarning) {
  const auto c = run("listener 1883 127.0.0.1\nallow_anonymous true\nmessage_size_limit 1000\n");
  EXPECT_EQ(c.config.limits.max_packet_size, 1000u + kPublishOverhead);
  EXPECT_TRUE(c.warned("m.conf:3: message_size_limit: mosquitto limits a PUBLISH payload")) << c.all_warnings();
  EXPECT_EQ(run("listener 1883 127.0.0.1\nallow_anonymous true\nmax_packet_size 2000\n").config.limits.max_packet_size,
            2000u);
  EXPECT_EQ(error("listener 1883\nmessage_size_limit 300000000\n"),
            "m.conf:2: message_size_limit: 300000000 is out of range: mosquitto takes 0 to 268435455");
}

TEST_F(Convert, KeepaliveQosTopicAliasSysAndRetain) {
  const auto c = run("listener 1883 127.0.0.1\nallow_anonymous true\nmax_keepalive 120\nmax_qos 1\n"
                     "max_topic_alias 3\nsys_interval 30\nretain_available false\n");
  EXPECT_EQ(c.config.limits.max_keepalive, 120u);
  EXPECT_EQ(c.config.limits.max_qos, 1u);
  EXPECT_EQ(c.config.limits.topic_alias_maximum, 3u);
  EXPECT_EQ(c.config.sys_interval, 30u);
  EXPECT_FALSE(c.config.features.retain_available);
  EXPECT_EQ(error("listener 1883\nmax_keepalive 70000\n"),
            "m.conf:2: max_keepalive: 70000 is out of range: mosquitto takes 0 to 65535");
}

TEST_F(Convert, PerListenerQosThatDiffersTakesTheLargest) {
  const auto c = run("listener 1883 127.0.0.1\nmax_qos 1\nlistener 1884 127.0.0.1\nallow_anonymous true\n");
  EXPECT_EQ(c.config.limits.max_qos, 2u);
  EXPECT_TRUE(c.warned("m.conf:2: max_qos: Hermod's limits.max_qos is the same for every listener")) << c.all_warnings();
}

TEST_F(Convert, PersistenceBecomesAStoreDirectoryBesideMosquittosDatabase) {
  const auto c = run("persistence true\npersistence_location /var/lib/mosquitto/\n");
  EXPECT_EQ(c.config.data_dir, "/var/lib/mosquitto/hermod");
  EXPECT_EQ(run("persistence true\n").config.data_dir, abs("hermod")) << "mosquitto's default: the working directory";
  const auto off = run("persistence false\npersistence_location /var/lib/mosquitto/\n");
  EXPECT_EQ(off.config.data_dir, "");
  EXPECT_TRUE(off.warned("m.conf:2: persistence_location: no effect without persistence true")) << off.all_warnings();
}

TEST_F(Convert, NumberThatIsNotANumberIsAnError) {
  EXPECT_EQ(error("listener 1883\nmax_connections 5x\n"), "m.conf:2: max_connections: \"5x\" is not a whole number");
  EXPECT_EQ(error("listener 1883\nmax_connections\n"),
            "m.conf:2: max_connections: no value given (mosquitto refuses an empty value)");
}

// --- what is not carried over

TEST_F(Convert, KeysNotCarriedOverAreWarningsWithFileLineAndWhy) {
  const auto c = run(
      "pid_file /run/mosquitto.pid\n"
      "check_retain_source true\n"
      "log_dest file /var/log/mosquitto.log\n"
      "log_dest stderr\n"
      "auth_plugin /usr/lib/x.so\n"
      "auth_opt_db sqlite\n"
      "connection upstream\n"
      "address 10.0.0.1:1883\n"
      "topic # both 0\n"
      "no_such_option 1\n"
      "set_tcp_nodelay true\n");
  EXPECT_EQ(c.warnings, (std::vector<std::string>{
                            "m.conf:1: pid_file: Hermod writes no pid file (under systemd it reports readiness with "
                            "Type=notify)",
                            "m.conf:2: check_retain_source: not supported by Hermod: a retained message is not "
                            "checked again against its publisher's write access (every delivery is checked against "
                            "the subscriber's read access)",
                            "m.conf:3: log_dest: Hermod logs to stderr (the journal under systemd); [broker] "
                            "log_level chooses how much",
                            "m.conf:5: auth_plugin: Hermod has no plugins",
                            "m.conf:6: auth_opt_db: Hermod has no plugins",
                            "m.conf:7: connection: bridges are not supported by Hermod (bridge \"upstream\" is not "
                            "carried over)",
                            "m.conf:8: address: belongs to bridge \"upstream\"; bridges are not supported by Hermod",
                            "m.conf:9: topic: belongs to bridge \"upstream\"; bridges are not supported by Hermod",
                            "m.conf:10: no_such_option: unknown option (mosquitto 2.0 refuses it too); not carried "
                            "over",
                        }));
}

TEST_F(Convert, WarningsOfIncludedFilesNameThemInReadingOrder) {
  dir_.write("conf.d/b.conf", "log_type all\n");
  dir_.write("conf.d/a.conf", "\n\ncheck_retain_source true\n");
  const auto c = run("pid_file /p\ninclude_dir conf.d\nuser mosquitto\n  # indented\n");
  ASSERT_EQ(c.warnings.size(), 5u) << c.all_warnings();
  EXPECT_EQ(c.warnings[0].rfind("m.conf:1: pid_file:", 0), 0u);
  EXPECT_EQ(c.warnings[1].rfind("conf.d/a.conf:3: check_retain_source:", 0), 0u);
  EXPECT_EQ(c.warnings[2].rfind("conf.d/b.conf:1: log_type:", 0), 0u);
  EXPECT_EQ(c.warnings[3].rfind("m.conf:3: user:", 0), 0u);
  EXPECT_EQ(c.warnings[4].rfind("m.conf:4: a comment must start", 0), 0u) << c.all_warnings();
  EXPECT_NE(c.toml.find("# and the include_dir files " + abs("conf.d/a.conf") + " " + abs("conf.d/b.conf")),
            std::string::npos)
      << c.toml;
}

TEST_F(Convert, IncludedFilesConfigureListenersLikeTheMainFile) {
  dir_.write("conf.d/10-tls.conf", "listener 8883 127.0.0.1\ncertfile /c\nkeyfile /k\n");
  dir_.write("conf.d/20-auth.conf", "allow_anonymous true\n");
  const auto c = run("listener 1883 127.0.0.1\ninclude_dir conf.d\n");
  ASSERT_EQ(c.config.listeners.size(), 2u);
  EXPECT_EQ(c.config.listeners[1].transport, "tls");
  EXPECT_TRUE(c.config.auth.allow_anonymous);
}

TEST_F(Convert, DebiansStockConfiguration) {
  // /etc/mosquitto/mosquitto.conf as Debian 12 installs it, with an empty conf.d.
  dir_.write("conf.d/README", "Any files placed in this directory that have a .conf ending ...\n");
  const auto c = run(
      "# Place your local configuration in /etc/mosquitto/conf.d/\n#\n"
      "pid_file /run/mosquitto/mosquitto.pid\n\n"
      "persistence true\npersistence_location /var/lib/mosquitto/\n\n"
      "log_dest file /var/log/mosquitto/mosquitto.log\n\n"
      "include_dir conf.d\n");
  ASSERT_EQ(c.config.listeners.size(), 2u);
  EXPECT_EQ(c.config.listeners[0].name(), "127.0.0.1:1883");
  EXPECT_TRUE(c.config.auth.allow_anonymous);
  EXPECT_EQ(c.config.data_dir, "/var/lib/mosquitto/hermod");
  EXPECT_EQ(c.warnings.size(), 2u) << c.all_warnings();
}

}  // namespace
}  // namespace hermod::broker::mosquitto
