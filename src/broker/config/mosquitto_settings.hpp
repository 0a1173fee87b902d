// What a mosquitto.conf says, read the way Mosquitto 2.0 reads it (mosquitto.conf(5), checked
// against Debian's mosquitto 2.0.11): its listeners, the default listener, the global options,
// and the security options of each listener when per_listener_settings is true. Built from the
// lines of mosquitto_conf.hpp by read_settings; a key Hermod has no use for becomes a warning
// there, with the reason. What Hermod makes of the rest is mosquitto_convert.hpp's business.
// Plain data; any thread.
//
// Mosquitto's rules kept here:
//   * listener options (port, protocol, TLS, max_connections, ...) belong to the last `listener`
//     line above them; before the first one they configure the *default listener*, which runs
//     (on port 1883, every address) once `port`, `bind_address` or another of them is set to a
//     value other than its default; `port` and `bind_address` always configure it;
//   * with no listener at all mosquitto runs in "local only" mode: port 1883 on 127.0.0.1 and
//     ::1, anonymous clients allowed unless allow_anonymous says otherwise;
//   * security options (password_file, allow_anonymous, acl_file, plugins, ...) are global, or
//     per listener when per_listener_settings is true, which must come before any of them;
//   * a string option given twice in the same scope is an error; a number or a boolean given
//     twice takes the last value; booleans are exactly "true" or "false".
// A value mosquitto would refuse (a port above 65535, "protocol foo") throws ConfigError with
// file, line and key: there is nothing faithful to convert it to.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "broker/config/mosquitto_conf.hpp"

namespace hermod::broker::mosquitto {

template <typename T>
struct Setting {
  T value{};
  Origin at;  // the line that set it; line 0: mosquitto's default

  bool given() const { return at.line != 0; }
};

// Who may connect: global, or one listener's with per_listener_settings true.
struct Security {
  Setting<std::string> password_file;  // absolute
  Setting<bool> allow_anonymous;
  Setting<std::string> acl_file;       // absolute
};

struct Listener {
  Origin at;  // the `listener` line; the default listener: the first line that configured it
  bool is_default = false;
  Setting<std::int64_t> port{1883, {}};
  Setting<std::string> address;        // as written: "" every address; a path with port 0: a unix socket
  Setting<std::string> protocol{"mqtt", {}};  // "mqtt" | "websockets"
  Setting<std::string> socket_domain;  // "" | "ipv4" | "ipv6"
  Setting<std::string> bind_interface;
  Setting<std::string> mount_point;
  Setting<std::string> cafile, capath, certfile, keyfile, crlfile;  // absolute
  Setting<std::string> ciphers, ciphers_tls13, tls_version, psk_hint, tls_engine;
  Setting<bool> require_certificate, use_identity_as_username, use_subject_as_username;
  Setting<std::int64_t> max_connections{-1, {}};  // -1: unlimited
  Setting<std::int64_t> max_qos{2, {}};
  Setting<std::int64_t> max_topic_alias{10, {}};
  Security security;  // per_listener_settings true only
  // Every line that set one of the fields above, in order: the warnings if the listener is not
  // carried over.
  std::vector<ConfLine> lines;

  bool websockets() const { return protocol.value == "websockets"; }
  // Mosquitto enables TLS with a certificate and a key, both.
  bool tls() const { return certfile.given() && keyfile.given(); }
};

struct Settings {
  std::string main_file;                // as given on the command line
  std::vector<std::string> included;    // the include_dir files read, in order
  Listener default_listener;            // is_default
  bool default_listener_runs = false;   // a key set it (see above)
  std::vector<Listener> listeners;      // the `listener` lines, in order
  Setting<bool> per_listener_settings;
  Security security;                    // per_listener_settings false
  Setting<bool> persistence;
  Setting<std::string> persistence_location;  // absolute
  Setting<std::int64_t> max_inflight_messages, max_queued_messages, max_queued_bytes, message_size_limit,
      max_packet_size, max_keepalive, sys_interval;
  Setting<std::int64_t> memory_limit;  // bytes; 0: no limit (mosquitto's default)
  Setting<bool> queue_qos0_messages, retain_available;

  // No listener at all: mosquitto's "local only" mode.
  bool local_only() const { return listeners.empty() && !default_listener_runs; }
};

// Reads the meaning of `conf` (from read_conf_file). Relative paths are made absolute against
// `cwd`, as mosquitto opens them from its working directory. Keys not carried over go to
// `warnings`. Throws ConfigError for a value mosquitto would refuse.
Settings read_settings(const ConfText& conf, const std::filesystem::path& cwd, std::vector<Warning>& warnings);

}  // namespace hermod::broker::mosquitto
