#include "broker/config/mosquitto_settings.hpp"

#include <charconv>
#include <limits>
#include <set>

#include "broker/config/config.hpp"

namespace hermod::broker::mosquitto {

namespace fs = std::filesystem;

namespace {

// Keys that Hermod does not carry over, with the reason the warning gives. Keys handled in
// Reader (converted, or conditional on their value) are not here.
struct Skipped {
  std::string_view key;
  std::string_view why;
};

constexpr std::string_view kNotSupported = "not supported by Hermod";
constexpr std::string_view kLogging =
    "Hermod logs to stderr (the journal under systemd); [broker] log_level chooses how much";
constexpr std::string_view kPlugins = "Hermod has no plugins";
constexpr std::string_view kPsk = "TLS-PSK is not supported by Hermod";
constexpr std::string_view kAutosave =
    "not needed: Hermod's store writes every change as it happens (see docs/durability.md)";

constexpr Skipped kSkipped[] = {
    {"check_retain_source",
     "not supported by Hermod: a retained message is not checked again against its publisher's write access "
     "(every delivery is checked against the subscriber's read access)"},
    {"auth_plugin", kPlugins},
    {"plugin", kPlugins},
    {"auth_plugin_deny_special_chars", kPlugins},
    {"psk_file", kPsk},
    {"auto_id_prefix", "Hermod names the clients it assigns an id to in its own way"},
    {"autosave_interval", kAutosave},
    {"autosave_on_changes", kAutosave},
    {"persistence_file", "not needed: Hermod's store is a directory, [store] path"},
    {"clientid_prefixes", "not supported by Hermod: client ids that mosquitto refused are accepted"},
    {"log_facility", kLogging},
    {"log_timestamp", kLogging},
    {"log_timestamp_format", kLogging},
    {"log_type", kLogging},
    {"max_inflight_bytes", "not supported by Hermod (limits.max_inflight counts messages)"},
    {"persistent_client_expiration",
     "not supported by Hermod (limits.max_session_expiry caps the expiry clients ask for)"},
    {"pid_file", "Hermod writes no pid file (under systemd it reports readiness with Type=notify)"},
    {"user", "Hermod does not change user: start it as the user it should run as (systemd User=)"},
    {"websockets_log_level", kNotSupported},
    {"websockets_headers_size", kNotSupported},
    {"http_dir", "Hermod's WebSocket listeners serve no files"},
    {"dhparamfile", "not needed: Hermod offers ECDHE key exchange, which takes no DH parameters"},
    {"tls_engine_kpass_sha1", "OpenSSL engines are not supported by Hermod"},
};

// The keys of a bridge (after a `connection` line).
const std::set<std::string_view> kBridgeKeys = {
    "address", "addresses", "bridge_attempt_unsubscribe", "bridge_bind_address", "bridge_max_packet_size",
    "bridge_outgoing_retain", "bridge_protocol_version", "cleansession", "local_cleansession", "keepalive_interval",
    "idle_timeout", "local_clientid", "local_password", "local_username", "notifications",
    "notifications_local_only", "notification_topic", "remote_clientid", "remote_password", "remote_username",
    "restart_timeout", "round_robin", "start_type", "threshold", "topic", "try_private", "bridge_alpn",
    "bridge_cafile", "bridge_capath", "bridge_certfile", "bridge_identity", "bridge_insecure", "bridge_keyfile",
    "bridge_psk", "bridge_require_ocsp", "bridge_tls_version", "clientid", "username", "password"};

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

class Reader {
 public:
  Reader(Settings& s, const fs::path& cwd, std::vector<Warning>& warnings) : s_(s), cwd_(cwd), warnings_(warnings) {}

  void read(const ConfLine& l) {
    if (l.key == "include_dir") return include_dir(l);
    if (l.key == "connection") {
      bridge_ = l.value;
      return warn(l, "bridges are not supported by Hermod (bridge \"" + l.value + "\" is not carried over)");
    }
    if (kBridgeKeys.count(l.key)) {
      return warn(l, bridge_.empty() ? std::string("a bridge option; bridges are not supported by Hermod")
                                     : "belongs to bridge \"" + bridge_ + "\"; bridges are not supported by Hermod");
    }
    if (listener_key(l) || security_key(l) || global_key(l) || skipped_key(l)) return;
    warn(l, "unknown option (mosquitto 2.0 refuses it too); not carried over");
  }

 private:
  // The listener that listener options configure: the last `listener`, else the default one.
  Listener& current() { return s_.listeners.empty() ? s_.default_listener : s_.listeners.back(); }

  [[noreturn]] void fail(const ConfLine& l, const std::string& message) const {
    throw ConfigError(l.at.file, l.at.line, l.key, message);
  }

  void warn(const ConfLine& l, std::string message) { warnings_.push_back({l.at, l.key, std::move(message)}); }

  const std::string& text(const ConfLine& l) const {
    if (l.value.empty()) fail(l, "no value given (mosquitto refuses an empty value)");
    return l.value;
  }

  std::string first_word(const ConfLine& l) const {
    const auto words = l.words();
    if (words.empty()) fail(l, "no value given (mosquitto refuses an empty value)");
    return words.front();
  }

  std::int64_t integer(const ConfLine& l, const std::string& word) const {
    std::int64_t v = 0;
    const char* end = word.data() + word.size();
    const auto [ptr, ec] = std::from_chars(word.data(), end, v);
    if (ec != std::errc() || ptr != end) fail(l, "\"" + word + "\" is not a whole number");
    return v;
  }
  std::int64_t integer(const ConfLine& l) const { return integer(l, first_word(l)); }

  std::int64_t integer_in(const ConfLine& l, std::int64_t min, std::int64_t max) const {
    const std::int64_t v = integer(l);
    if (v < min || v > max) {
      fail(l, std::to_string(v) + " is out of range: mosquitto takes " + std::to_string(min) + " to " +
                  std::to_string(max));
    }
    return v;
  }

  bool boolean(const ConfLine& l) const {
    const std::string w = first_word(l);
    if (w == "true") return true;
    if (w == "false") return false;
    fail(l, "\"" + w + "\" is not true or false (mosquitto refuses it too)");
  }

  // A string option: mosquitto refuses one given twice in the same scope.
  void set_string(Setting<std::string>& s, const ConfLine& l, bool is_path) const {
    if (s.given()) fail(l, "given twice, first at " + s.at.str() + " (mosquitto refuses that)");
    s.value = is_path ? absolute_path(text(l), cwd_) : text(l);
    s.at = l.at;
  }

  template <typename T>
  static void set(Setting<T>& s, T value, const ConfLine& l) {
    s.value = std::move(value);
    s.at = l.at;
  }

  // Records that `l` configured `target`; the default listener runs if `starts` says so.
  void configured(Listener& target, const ConfLine& l, bool starts) {
    if (target.is_default) {
      if (!s_.default_listener_runs && starts) {
        s_.default_listener_runs = true;
        target.at = l.at;
      }
    }
    target.lines.push_back(l);
  }

  bool listener_key(const ConfLine& l) {
    const std::string& k = l.key;
    if (k == "listener") return listener_line(l), true;
    if (k == "port") {
      set(s_.default_listener.port, integer_in(l, 1, 65535), l);
      configured(s_.default_listener, l, true);
      return true;
    }
    if (k == "bind_address") {
      set(s_.default_listener.address, text(l), l);
      configured(s_.default_listener, l, true);
      return true;
    }
    Listener& t = current();
    bool starts = true;
    if (k == "protocol") {
      const std::string p = first_word(l);
      if (p != "mqtt" && p != "websockets") fail(l, "must be mqtt or websockets (mosquitto refuses \"" + p + "\")");
      set(t.protocol, p, l);
      starts = p != "mqtt";
    } else if (k == "socket_domain") {
      const std::string d = first_word(l);
      if (d != "ipv4" && d != "ipv6") fail(l, "must be ipv4 or ipv6 (mosquitto refuses \"" + d + "\")");
      set(t.socket_domain, d, l);
    } else if (k == "bind_interface") {
      set_string(t.bind_interface, l, false);
    } else if (k == "mount_point") {
      if (t.is_default) fail(l, "before any listener line (mosquitto refuses that)");
      set_string(t.mount_point, l, false);
    } else if (k == "max_connections") {
      set(t.max_connections, integer(l), l);
      starts = t.max_connections.value != -1;
    } else if (k == "max_qos") {
      set(t.max_qos, integer_in(l, 0, 2), l);
      starts = t.max_qos.value != 2;
    } else if (k == "max_topic_alias") {
      set(t.max_topic_alias, integer_in(l, 0, 65535), l);
      starts = false;
    } else if (k == "cafile" || k == "capath" || k == "certfile" || k == "keyfile" || k == "crlfile") {
      Setting<std::string>* field = k == "cafile"     ? &t.cafile
                                    : k == "capath"   ? &t.capath
                                    : k == "certfile" ? &t.certfile
                                    : k == "keyfile"  ? &t.keyfile
                                                      : &t.crlfile;
      set_string(*field, l, true);
    } else if (k == "ciphers" || k == "ciphers_tls1.3") {
      set_string(k == "ciphers" ? t.ciphers : t.ciphers_tls13, l, false);
    } else if (k == "psk_hint" || k == "tls_engine") {
      set_string(k == "psk_hint" ? t.psk_hint : t.tls_engine, l, false);
    } else if (k == "tls_version") {
      const std::string v = first_word(l);
      if (v != "tlsv1.3" && v != "tlsv1.2" && v != "tlsv1.1") {
        fail(l, "must be tlsv1.3, tlsv1.2 or tlsv1.1 (mosquitto refuses \"" + v + "\")");
      }
      set(t.tls_version, v, l);
      starts = false;
    } else if (k == "tls_keyform") {
      const std::string v = first_word(l);
      if (v != "pem" && v != "engine") fail(l, "must be pem or engine (mosquitto refuses \"" + v + "\")");
      if (v == "engine" && !t.tls_engine.given()) set(t.tls_engine, std::string("tls_keyform engine"), l);
      starts = false;
    } else if (k == "require_certificate" || k == "use_identity_as_username" || k == "use_subject_as_username") {
      Setting<bool>& field = k == "require_certificate"        ? t.require_certificate
                             : k == "use_identity_as_username" ? t.use_identity_as_username
                                                               : t.use_subject_as_username;
      set(field, boolean(l), l);
      starts = field.value;
    } else if (k == "use_username_as_clientid") {
      // Not carried over, but it is a listener option: a true one starts the default listener.
      if (boolean(l)) {
        warn(l, "not supported by Hermod: the client id is the one the client sends");
        if (t.is_default && !s_.default_listener_runs) {
          s_.default_listener_runs = true;
          t.at = l.at;
        }
      }
      return true;
    } else if (k == "dhparamfile") {
      if (t.is_default && !s_.default_listener_runs) {
        s_.default_listener_runs = true;
        t.at = l.at;
      }
      return false;  // and the warning of kSkipped
    } else {
      return false;
    }
    configured(t, l, starts);
    return true;
  }

  void listener_line(const ConfLine& l) {
    const auto words = l.words();
    if (words.empty()) fail(l, "no port given (mosquitto refuses an empty value)");
    Listener n;
    n.at = l.at;
    const std::int64_t port = integer(l, words[0]);
    if (words.size() > 1) set(n.address, words[1], l);
    const bool unix_socket = port == 0 && words.size() > 1;
    if (!unix_socket && (port < 1 || port > 65535)) {
      fail(l, "port " + words[0] + " is out of range: mosquitto takes 1 to 65535 (0 with a unix socket path)");
    }
    set(n.port, port, l);
    for (const auto& other : s_.listeners) {
      if (other.port.value == port && other.address.value == n.address.value) {
        fail(l, "a second listener on the same port and address as " + other.at.str() +
                    " (mosquitto cannot start with both)");
      }
    }
    n.lines.push_back(l);
    s_.listeners.push_back(std::move(n));
  }

  Security& security() {
    security_seen_ = true;
    return s_.per_listener_settings.value ? current().security : s_.security;
  }

  bool security_key(const ConfLine& l) {
    const std::string& k = l.key;
    if (k == "password_file") {
      set_string(security().password_file, l, true);
      if (s_.per_listener_settings.value) current().lines.push_back(l);
    } else if (k == "allow_anonymous") {
      set(security().allow_anonymous, boolean(l), l);
      if (s_.per_listener_settings.value) current().lines.push_back(l);
    } else if (k == "acl_file") {
      set_string(security().acl_file, l, true);
      if (s_.per_listener_settings.value) current().lines.push_back(l);
    } else if (k == "allow_zero_length_clientid") {
      security();
      // true is mosquitto's default and what Hermod does: it assigns the client an id.
      if (!boolean(l)) warn(l, "not supported by Hermod: a client may send an empty id and get one assigned");
    } else if (starts_with(k, "auth_opt_") || starts_with(k, "plugin_opt_")) {
      security();
      warn(l, std::string(kPlugins));
    } else if (k == "psk_file" || k == "auth_plugin" || k == "plugin" || k == "auto_id_prefix" ||
               k == "auth_plugin_deny_special_chars") {
      security();
      skipped_key(l);
    } else {
      return false;
    }
    return true;
  }

  bool global_key(const ConfLine& l) {
    const std::string& k = l.key;
    if (k == "per_listener_settings") {
      if (security_seen_) fail(l, "must come before every security option (mosquitto refuses it here)");
      set(s_.per_listener_settings, boolean(l), l);
    } else if (k == "persistence") {
      set(s_.persistence, boolean(l), l);
    } else if (k == "persistence_location") {
      set_string(s_.persistence_location, l, true);
    } else if (k == "queue_qos0_messages") {
      set(s_.queue_qos0_messages, boolean(l), l);
    } else if (k == "retain_available") {
      set(s_.retain_available, boolean(l), l);
    } else if (k == "max_inflight_messages") {
      set(s_.max_inflight_messages, integer(l), l);
    } else if (k == "max_queued_messages") {
      set(s_.max_queued_messages, integer(l), l);
    } else if (k == "max_queued_bytes") {
      set(s_.max_queued_bytes, integer(l), l);
    } else if (k == "message_size_limit") {
      set(s_.message_size_limit, integer_in(l, 0, 268'435'455), l);
    } else if (k == "max_packet_size") {
      const std::int64_t v = integer_in(l, 0, 268'435'460);
      if (v != 0 && v < 20) fail(l, "below 20 bytes (mosquitto refuses it)");
      set(s_.max_packet_size, v, l);
    } else if (k == "max_keepalive") {
      set(s_.max_keepalive, integer_in(l, 0, 65'535), l);
    } else if (k == "memory_limit") {
      const std::int64_t v = integer(l);
      if (v < 0) fail(l, std::to_string(v) + " is negative (mosquitto refuses it)");
      set(s_.memory_limit, v, l);
    } else if (k == "sys_interval") {
      set(s_.sys_interval, integer_in(l, 0, std::numeric_limits<std::int32_t>::max()), l);
    } else if (k == "log_dest") {
      // stderr is mosquitto's default and where Hermod logs; every other destination is a warning.
      if (first_word(l) != "stderr") warn(l, std::string(kLogging));
    } else if (k == "connection_messages") {
      if (!boolean(l)) warn(l, "Hermod always logs connections and disconnections (at info)");
    } else if (k == "set_tcp_nodelay") {
      // Hermod always sets TCP_NODELAY: nothing to carry over either way.
    } else if (k == "allow_duplicate_messages") {
      if (!boolean(l)) warn(l, "not supported by Hermod (a client gets a message once per matching subscription)");
    } else if (k == "upgrade_outgoing_qos") {
      if (boolean(l)) warn(l, "not supported by Hermod: messages go out at most at the QoS they were published with");
    } else {
      return false;
    }
    return true;
  }

  bool skipped_key(const ConfLine& l) {
    for (const auto& s : kSkipped) {
      if (s.key == l.key && !s.why.empty()) {
        warn(l, std::string(s.why));
        return true;
      }
    }
    return false;
  }

  void include_dir(const ConfLine& l) {
    // The reader has put the included lines after this one.
    if (!l.main_file) warn(l, "mosquitto reads include_dir only in the main configuration file; it ignored this one");
  }

  Settings& s_;
  fs::path cwd_;
  std::vector<Warning>& warnings_;
  bool security_seen_ = false;
  std::string bridge_;  // the current bridge's name, for warnings
};

}  // namespace

Settings read_settings(const ConfText& conf, const fs::path& cwd, std::vector<Warning>& warnings) {
  Settings s;
  s.main_file = conf.main_file;
  s.included = conf.included;
  s.default_listener.is_default = true;
  Reader reader(s, cwd, warnings);
  for (const auto& l : conf.lines) {
    reader.read(l);
  }
  return s;
}

}  // namespace hermod::broker::mosquitto
