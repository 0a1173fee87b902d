#include "broker/config/mosquitto_listeners.hpp"

#include <arpa/inet.h>

#include <utility>

#include "broker/config/config.hpp"

namespace hermod::broker::mosquitto {

namespace {

bool is_ip_literal(const std::string& a) {
  unsigned char buf[16];
  return inet_pton(AF_INET, a.c_str(), buf) == 1 || inet_pton(AF_INET6, a.c_str(), buf) == 1;
}

class ListenerConverter {
 public:
  ListenerConverter(const Settings& s, std::vector<Warning>& w) : s_(s), warnings_(w) {}

  std::vector<CarriedListener> run() {
    if (!s_.default_listener_runs) {
      for (const auto& line : s_.default_listener.lines) {
        warn(line.at, line.key,
             "sets mosquitto's default listener, which does not run here (no port or bind_address, and no "
             "listener option before the first listener line that would start it); no effect");
      }
    }
    if (s_.local_only()) {
      local_only();
      return std::move(carried_);
    }
    if (s_.default_listener_runs) carry(s_.default_listener);
    for (const auto& l : s_.listeners) carry(l);
    if (carried_.empty()) {
      throw ConfigError(s_.main_file, 0, "",
                        "no listener can be carried over (see the warnings): Hermod would listen where mosquitto "
                        "did not");
    }
    check_overlaps();
    return std::move(carried_);
  }

 private:
  void warn(const Origin& at, const std::string& key, std::string message) {
    warnings_.push_back({at, key, std::move(message)});
  }
  template <typename T>
  void warn(const Setting<T>& s, const std::string& key, std::string message) {
    warn(s.at, key, std::move(message));
  }

  // Each line of `l` but `except` gets the warning `why`.
  void warn_rest(const Listener& l, const Origin& except, const std::string& why) {
    for (const auto& line : l.lines) {
      if (line.at.seq != except.seq) warn(line.at, line.key, why);
    }
  }

  void local_only() {
    for (const char* address : {"127.0.0.1", "::1"}) {
      CarriedListener c{&s_.default_listener};
      c.bind = address;
      c.table.comment(std::string("mosquitto's \"local only\" mode (the configuration has no listener): port 1883 on ") +
                      (c.bind == "::1" ? "IPv6" : "IPv4") + " loopback");
      c.table.put_string("bind", c.bind);
      c.table.put_int("port", 1883);
      carried_.push_back(std::move(c));
    }
  }

  // Whether mosquitto would refuse every client of `l`, or confine them in a way Hermod cannot:
  // then `l` is not carried over (see the header's first rule), and this says why.
  bool blocked(const Listener& l) {
    auto drop = [&](const Origin& at, const std::string& key, const std::string& why) {
      warn(at, key, why + "; this listener is not carried over");
      warn_rest(l, at, "belongs to the listener at " + l.at.str() + ", which is not carried over");
      return true;
    };
    if (l.port.value == 0) return drop(l.at, "listener", "unix socket listeners are not supported by Hermod");
    if (l.bind_interface.given()) {
      return drop(l.bind_interface.at, "bind_interface",
                  "Hermod binds addresses, not interfaces (a listener on the interface's address does the same)");
    }
    if (l.mount_point.given()) {
      return drop(l.mount_point.at, "mount_point",
                  "mount points are not supported by Hermod (its clients would see every topic)");
    }
    if (l.psk_hint.given() && !l.tls()) {
      return drop(l.psk_hint.at, "psk_hint", "a TLS-PSK listener: TLS-PSK is not supported by Hermod");
    }
    if (!l.tls()) return false;
    if (l.tls_engine.given()) {
      return drop(l.tls_engine.at, l.tls_engine.value == "tls_keyform engine" ? "tls_keyform" : "tls_engine",
                  "keys held by an OpenSSL engine are not supported by Hermod");
    }
    if (l.require_certificate.value && !l.cafile.given() && !l.capath.given()) {
      return drop(l.require_certificate.at, "require_certificate",
                  "true without cafile or capath: mosquitto refuses every client here (no CA to check "
                  "certificates against)");
    }
    const bool identity = l.use_identity_as_username.value || l.use_subject_as_username.value;
    if (identity && !l.require_certificate.value) {
      const auto& key = l.use_identity_as_username.value ? l.use_identity_as_username : l.use_subject_as_username;
      return drop(key.at, l.use_identity_as_username.value ? "use_identity_as_username" : "use_subject_as_username",
                  "true without require_certificate: mosquitto refuses every client here (it asks for no "
                  "certificate to take the user name from)");
    }
    return false;
  }

  // The address Hermod binds for `l` (mosquitto: "" is every address).
  std::string bind_of(const Listener& l, CarriedListener& c) {
    const std::string& a = l.address.value;
    if (a.empty()) {
      if (l.socket_domain.value == "ipv6") return "::";
      if (l.socket_domain.value != "ipv4") {
        c.every_address = true;
        c.table.comment("mosquitto listened on every IPv4 and IPv6 address here; Hermod binds one address per");
        c.table.comment("listener: this one takes every IPv4 address (for IPv6 add a copy with bind = \"::\")");
      }
      return "0.0.0.0";
    }
    if (a == "localhost") return "127.0.0.1";  // mosquitto binds the first address it resolves to
    if (!is_ip_literal(a)) {
      const Origin& at = l.address.at;
      throw ConfigError(at.file, at.line, l.is_default ? "bind_address" : "listener",
                        "\"" + a + "\": Hermod listens on IP addresses, not host names; write the address instead");
    }
    return a;
  }

  void carry(const Listener& l) {
    if (blocked(l)) return;
    CarriedListener c{&l};
    if (l.is_default) {
      c.table.comment("mosquitto's default listener (" + l.at.str() + ": " + first_key(l) + ")");
    } else {
      c.table.comment("from " + l.at.str() + ": listener " + std::to_string(l.port.value) +
                      (l.address.value.empty() ? "" : " " + l.address.value));
    }
    c.bind = bind_of(l, c);
    c.table.put_string("bind", c.bind);
    c.table.put_int("port", l.port.value);
    const bool tls = l.tls();
    const std::string transport = l.websockets() ? (tls ? "wss" : "ws") : (tls ? "tls" : "tcp");
    if (transport != "tcp") c.table.put_string("transport", transport);
    if (l.websockets()) {
      c.table.comment("mosquitto takes WebSocket connections on any path, Hermod on ws_path only (default");
      c.table.comment("\"/mqtt\", which most clients use): set ws_path if yours use another");
    }
    if (tls) {
      tls_keys(l, c.table);
    } else {
      untls_keys(l);
    }
    carried_.push_back(std::move(c));
  }

  static std::string first_key(const Listener& l) {
    for (const auto& line : l.lines) {
      if (line.at.seq == l.at.seq) return line.key + " " + line.value;
    }
    return "listener options before the first listener line";
  }

  void tls_keys(const Listener& l, TomlTable& t) {
    t.put_string("cert_file", l.certfile.value);
    t.put_string("key_file", l.keyfile.value);
    if (l.cafile.given()) t.put_string("ca_file", l.cafile.value);
    if (l.capath.given()) t.put_string("ca_dir", l.capath.value);
    if (l.require_certificate.value) {
      t.put_string("client_certificates", "required");
      if (l.crlfile.given()) t.put_string("crl_file", l.crlfile.value);
      if (l.use_identity_as_username.value) {
        t.put_string("identity_as_username", "cn");
      } else if (l.use_subject_as_username.value) {
        t.put_string("identity_as_username", "subject");
      }
    } else if (l.crlfile.given()) {
      warn(l.crlfile, "crlfile", "no effect without require_certificate true (mosquitto asks for no client "
                                 "certificate); not carried over");
    }
    if (l.tls_version.given()) {
      if (l.tls_version.value == "tlsv1.1") {
        warn(l.tls_version, "tls_version", "Hermod offers TLS 1.2 and 1.3 only: tls_min_version = \"1.2\"");
      }
      t.put_string("tls_min_version", l.tls_version.value == "tlsv1.3" ? "1.3" : "1.2");
    }
    if (l.ciphers.given()) t.put_string("ciphers", l.ciphers.value);
    if (l.ciphers_tls13.given()) t.put_string("ciphersuites", l.ciphers_tls13.value);
    if (l.psk_hint.given()) {
      warn(l.psk_hint, "psk_hint", "TLS-PSK is not supported by Hermod: this listener takes certificates only");
    }
  }

  // TLS keys of a listener without both certfile and keyfile: mosquitto runs it without TLS.
  void untls_keys(const Listener& l) {
    const std::pair<const char*, const Origin*> keys[] = {
        {"certfile", &l.certfile.at},
        {"keyfile", &l.keyfile.at},
        {"cafile", &l.cafile.at},
        {"capath", &l.capath.at},
        {"crlfile", &l.crlfile.at},
        {"ciphers", &l.ciphers.at},
        {"ciphers_tls1.3", &l.ciphers_tls13.at},
        {"tls_version", &l.tls_version.at},
        {"tls_engine", &l.tls_engine.at},
        {"require_certificate", &l.require_certificate.at},
        {"use_identity_as_username", &l.use_identity_as_username.at},
        {"use_subject_as_username", &l.use_subject_as_username.at}};
    for (const auto& [key, at] : keys) {
      if (at->line == 0) continue;
      warn(*at, key == std::string("tls_engine") && l.tls_engine.value == "tls_keyform engine" ? "tls_keyform" : key,
           "no effect without both certfile and keyfile on this listener (mosquitto runs it without TLS); not "
           "carried over");
    }
  }

  // Mosquitto cannot open two listeners on one port whose addresses overlap (Hermod, with
  // SO_REUSEPORT, could): such a configuration never ran.
  void check_overlaps() {
    auto family = [](const std::string& b) { return b.find(':') == std::string::npos ? 4 : 6; };
    auto wildcard = [](const std::string& b) { return b == "0.0.0.0" || b == "::"; };
    for (std::size_t i = 0; i < carried_.size(); ++i) {
      for (std::size_t j = 0; j < i; ++j) {
        const CarriedListener& a = carried_[j];
        const CarriedListener& b = carried_[i];
        if (a.from->port.value != b.from->port.value) continue;
        const bool overlap = a.every_address || b.every_address ||
                             (family(a.bind) == family(b.bind) && (a.bind == b.bind || wildcard(a.bind) ||
                                                                   wildcard(b.bind)));
        if (!overlap) continue;
        const Origin& at = b.from->at;
        throw ConfigError(at.file, at.line, b.from->is_default ? "port" : "listener",
                          "listens on port " + std::to_string(b.from->port.value) + " like the listener at " +
                              a.from->at.str() + ", on an overlapping address: mosquitto cannot start with both");
      }
    }
  }

  const Settings& s_;
  std::vector<Warning>& warnings_;
  std::vector<CarriedListener> carried_;
};

}  // namespace

std::vector<CarriedListener> convert_listeners(const Settings& s, std::vector<Warning>& warnings) {
  return ListenerConverter(s, warnings).run();
}

}  // namespace hermod::broker::mosquitto
