#include "broker/config/config.hpp"

#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <thread>
#include <toml++/toml.h>

namespace hermod::broker {

namespace {

std::string format_error(const std::string& file, std::size_t line, const std::string& key,
                         const std::string& message) {
  std::ostringstream s;
  s << file;
  if (line > 0) s << ':' << line;
  s << ": ";
  if (!key.empty()) s << key << ": ";
  s << message;
  return s.str();
}

class Reader {
 public:
  explicit Reader(std::string source) : source_(std::move(source)) {}

  [[noreturn]] void fail(const toml::node* node, const std::string& key, const std::string& msg) const {
    const std::size_t line = node ? node->source().begin.line : 0;
    throw ConfigError(source_, line, key, msg);
  }

  // Rejects keys of `table` not in `known`, so a typo never silently means a default.
  void only(const toml::table& table, const std::string& prefix, std::initializer_list<std::string_view> known) const {
    const std::set<std::string_view> allowed(known);
    for (const auto& [k, v] : table) {
      if (!allowed.count(k.str())) fail(&v, prefix + std::string(k.str()), "unknown option");
    }
  }

  template <typename T>
  void integer(const toml::table& t, const std::string& prefix, std::string_view key, T& out,
               std::int64_t min, std::int64_t max) const {
    const auto* node = t.get(key);
    if (!node) return;
    const std::string name = prefix + std::string(key);
    const auto* v = node->as_integer();
    if (!v) fail(node, name, "must be an integer");
    const std::int64_t x = v->get();
    if (x < min || x > max) {
      fail(node, name, "must be between " + std::to_string(min) + " and " + std::to_string(max));
    }
    out = static_cast<T>(x);
  }

  void boolean(const toml::table& t, const std::string& prefix, std::string_view key, bool& out) const {
    const auto* node = t.get(key);
    if (!node) return;
    const auto* v = node->as_boolean();
    if (!v) fail(node, prefix + std::string(key), "must be true or false");
    out = v->get();
  }

  void string(const toml::table& t, const std::string& prefix, std::string_view key, std::string& out) const {
    const auto* node = t.get(key);
    if (!node) return;
    const auto* v = node->as_string();
    if (!v) fail(node, prefix + std::string(key), "must be a string");
    out = v->get();
  }

  // An array of strings; `check` (if given) returns an error message for a bad element.
  template <typename Check>
  void strings(const toml::table& t, const std::string& prefix, std::string_view key, std::vector<std::string>& out,
               Check check) const {
    const auto* node = t.get(key);
    if (!node) return;
    const std::string name = prefix + std::string(key);
    const auto* arr = node->as_array();
    if (!arr) fail(node, name, "must be an array of strings");
    out.clear();
    for (const auto& item : *arr) {
      const auto* v = item.as_string();
      if (!v) fail(&item, name, "must be an array of strings");
      if (const std::string why = check(v->get()); !why.empty()) fail(&item, name, "\"" + v->get() + "\": " + why);
      out.push_back(v->get());
    }
  }

  const toml::table* table(const toml::table& root, std::string_view key) const {
    const auto* node = root.get(key);
    if (!node) return nullptr;
    const auto* t = node->as_table();
    if (!t) fail(node, std::string(key), "must be a table ([" + std::string(key) + "])");
    return t;
  }

 private:
  std::string source_;
};

void read_broker(const Reader& r, const toml::table& t, Config& c) {
  r.only(t, "broker.", {"workers", "log_level", "log_format", "sys_interval", "file_check_interval"});
  r.integer(t, "broker.", "file_check_interval", c.file_check_interval, 0, 86'400);
  r.integer(t, "broker.", "workers", c.workers, 0, 1024);
  r.string(t, "broker.", "log_level", c.log_level);
  static const std::set<std::string> levels{"trace", "debug", "info", "warn", "error", "off"};
  if (!levels.count(c.log_level)) {
    r.fail(t.get("log_level"), "broker.log_level", "must be one of trace, debug, info, warn, error, off");
  }
  r.string(t, "broker.", "log_format", c.log_format);
  if (c.log_format != "text" && c.log_format != "json") {
    r.fail(t.get("log_format"), "broker.log_format", "must be text or json");
  }
  r.integer(t, "broker.", "sys_interval", c.sys_interval, 0, 86'400);
}

void read_limits(const Reader& r, const toml::table& t, Limits& l) {
  const std::string p = "limits.";
  r.only(t, p, {"max_packet_size", "max_connections", "max_inflight", "max_queued_messages",
                "max_queued_bytes", "connect_timeout", "max_tls_handshakes", "queue_qos0", "max_write_buffer", "receive_maximum",
                "topic_alias_maximum", "max_session_expiry", "max_keepalive", "max_qos", "message_rate", "byte_rate",
                "max_subscriptions", "max_topic_length", "max_topic_depth", "memory_budget",
                "max_connections_per_address", "address_prefix_v4", "address_prefix_v6", "connect_rate_per_address",
                "login_failure_delay_ms", "login_failure_delay_max_ms", "login_failure_quiet_period",
                "flapping_connects", "flapping_window", "flapping_ban"});
  r.integer(t, p, "max_packet_size", l.max_packet_size, 16, 268'435'460);
  r.integer(t, p, "max_connections", l.max_connections, 0, std::numeric_limits<std::uint32_t>::max());
  r.integer(t, p, "max_inflight", l.max_inflight, 1, 65'535);
  r.integer(t, p, "max_queued_messages", l.max_queued_messages, 0, 100'000'000);
  r.integer(t, p, "max_queued_bytes", l.max_queued_bytes, 0, std::int64_t{1} << 50);
  r.integer(t, p, "connect_timeout", l.connect_timeout, 1, 3'600);
  r.integer(t, p, "max_tls_handshakes", l.max_tls_handshakes, 0, 1'000'000);
  r.boolean(t, p, "queue_qos0", l.queue_qos0);
  r.integer(t, p, "max_write_buffer", l.max_write_buffer, 4'096, std::int64_t{1} << 40);
  r.integer(t, p, "receive_maximum", l.receive_maximum, 1, 65'535);
  r.integer(t, p, "topic_alias_maximum", l.topic_alias_maximum, 0, 65'535);
  r.integer(t, p, "max_session_expiry", l.max_session_expiry, 0, 0xFFFF'FFFFLL);
  r.integer(t, p, "max_keepalive", l.max_keepalive, 0, 65'535);
  r.integer(t, p, "max_qos", l.max_qos, 0, 2);
  r.integer(t, p, "message_rate", l.message_rate, 0, 100'000'000);
  r.integer(t, p, "byte_rate", l.byte_rate, 0, std::int64_t{1} << 40);
  r.integer(t, p, "max_subscriptions", l.max_subscriptions, 0, 100'000'000);
  r.integer(t, p, "max_topic_length", l.max_topic_length, 1, 65'535);
  r.integer(t, p, "max_topic_depth", l.max_topic_depth, 0, 65'535);
  r.integer(t, p, "memory_budget", l.memory_budget, 0, std::int64_t{1} << 50);
  r.integer(t, p, "max_connections_per_address", l.max_connections_per_address, 0, 100'000'000);
  r.integer(t, p, "address_prefix_v4", l.address_prefix_v4, 1, 32);
  r.integer(t, p, "address_prefix_v6", l.address_prefix_v6, 1, 128);
  r.integer(t, p, "connect_rate_per_address", l.connect_rate_per_address, 0, 1'000'000);
  r.integer(t, p, "login_failure_delay_ms", l.login_failure_delay_ms, 0, 60'000);
  r.integer(t, p, "login_failure_delay_max_ms", l.login_failure_delay_max_ms, 0, 600'000);
  r.integer(t, p, "login_failure_quiet_period", l.login_failure_quiet_period, 1, 86'400);
  r.integer(t, p, "flapping_connects", l.flapping_connects, 0, 1'000'000);
  r.integer(t, p, "flapping_window", l.flapping_window, 1, 86'400);
  r.integer(t, p, "flapping_ban", l.flapping_ban, 1, 86'400);
  if (l.login_failure_delay_max_ms < l.login_failure_delay_ms) {
    r.fail(t.get("login_failure_delay_max_ms"), p + "login_failure_delay_max_ms",
           "must be at least login_failure_delay_ms");
  }
  if (l.memory_budget != 0 && l.memory_budget < (1u << 20)) {
    r.fail(t.get("memory_budget"), p + "memory_budget", "must be 0 (no budget) or at least 1048576 (1 MiB)");
  }
}

void read_features(const Reader& r, const toml::table& t, Features& f) {
  const std::string p = "features.";
  r.only(t, p, {"retain_available", "wildcard_subscriptions", "subscription_identifiers", "shared_subscriptions"});
  r.boolean(t, p, "retain_available", f.retain_available);
  r.boolean(t, p, "wildcard_subscriptions", f.wildcard_subscriptions);
  r.boolean(t, p, "subscription_identifiers", f.subscription_identifiers);
  r.boolean(t, p, "shared_subscriptions", f.shared_subscriptions);
}

// A relative path is relative to the configuration file's directory, so the configuration means
// the same whatever directory hermod was started from.
std::string resolve_path(const std::string& file, const std::string& source) {
  if (file.empty()) return file;
  std::filesystem::path path(file);
  if (path.is_relative()) path = std::filesystem::path(source).parent_path() / path;
  return std::filesystem::absolute(path).lexically_normal().string();
}

void read_auth(const Reader& r, const toml::table& t, const std::string& source, AuthConfig& a) {
  r.only(t, "auth.", {"password_file", "allow_anonymous", "acl_file", "disconnect_removed_users"});
  std::string file;
  r.string(t, "auth.", "password_file", file);
  a.password_file = resolve_path(file, source);
  std::string acl;
  r.string(t, "auth.", "acl_file", acl);
  a.acl_file = resolve_path(acl, source);
  r.boolean(t, "auth.", "disconnect_removed_users", a.disconnect_removed_users);
  a.allow_anonymous = a.password_file.empty();
  r.boolean(t, "auth.", "allow_anonymous", a.allow_anonymous);
  if (!a.allow_anonymous && a.password_file.empty()) {
    r.fail(t.get("allow_anonymous"), "auth.allow_anonymous",
           "false needs auth.password_file (else no client could connect)");
  }
}

// One of `names` (the enum's values in order).
template <typename E>
void choice(const Reader& r, const toml::table& t, const std::string& prefix, std::string_view key, E& out,
            std::initializer_list<std::string_view> names) {
  std::string value;
  r.string(t, prefix, key, value);
  if (value.empty()) return;
  std::size_t i = 0;
  std::string list;
  for (const auto n : names) {
    if (n == value) {
      out = static_cast<E>(i);
      return;
    }
    list += (i ? ", " : "") + std::string(n);
    ++i;
  }
  r.fail(t.get(key), prefix + std::string(key), "must be one of " + list);
}

// The TLS keys of a listener (or of [http]); `what` names the transport in errors.
void read_tls_settings(const Reader& r, const toml::table& t, const std::string& p, const std::string& source,
                       bool is_tls, const std::string& what, const std::string& needs, net::TlsSettings& s) {
  const std::pair<const char*, std::string*> files[] = {
      {"cert_file", &s.cert_file}, {"key_file", &s.key_file}, {"key_password_file", &s.key_password_file},
      {"ca_file", &s.ca_file},     {"ca_dir", &s.ca_dir},     {"crl_file", &s.crl_file}};
  for (const auto& [key, field] : files) {
    std::string file;
    r.string(t, p, key, file);
    *field = resolve_path(file, source);
  }
  choice(r, t, p, "client_certificates", s.client_certificates, {"off", "optional", "required"});
  r.string(t, p, "tls_min_version", s.min_version);
  if (s.min_version != "1.2" && s.min_version != "1.3") {
    r.fail(t.get("tls_min_version"), p + "tls_min_version", "must be 1.2 or 1.3");
  }
  r.string(t, p, "ciphers", s.ciphers);
  r.string(t, p, "ciphersuites", s.ciphersuites);
  if (!is_tls) {
    for (const char* key : {"cert_file", "key_file", "key_password_file", "ca_file", "ca_dir", "crl_file",
                            "client_certificates", "tls_min_version", "ciphers",
                            "ciphersuites"}) {
      if (const auto* node = t.get(key)) r.fail(node, p + key, "a TLS option: needs " + needs);
    }
    return;
  }
  if (s.cert_file.empty()) r.fail(&t, p + "cert_file", what + " needs a certificate");
  if (s.key_file.empty()) r.fail(&t, p + "key_file", what + " needs a private key");
  if (s.client_certificates != net::ClientCertificates::off && s.ca_file.empty() && s.ca_dir.empty()) {
    r.fail(t.get("client_certificates"), p + "client_certificates", "needs ca_file or ca_dir to verify them");
  }
}

void read_tls(const Reader& r, const toml::table& t, const std::string& p, const std::string& source,
              ListenerConfig& l) {
  read_tls_settings(r, t, p, source, l.is_tls(), "transport \"" + l.transport + "\"",
                    "transport = \"tls\" or \"wss\"", l.tls);
}

void read_http(const Reader& r, const toml::table& t, const std::string& source, HttpConfig& h) {
  const std::string p = "http.";
  r.only(t, p, {"bind", "port", "tls", "cert_file", "key_file", "key_password_file", "ca_file", "ca_dir",
                "crl_file", "client_certificates", "tls_min_version", "ciphers", "ciphersuites", "admin_tokens",
                "metrics_auth", "max_connections", "max_body_size", "request_timeout", "idle_timeout"});
  h.enabled = true;
  r.string(t, p, "bind", h.bind);
  r.integer(t, p, "port", h.port, 0, 65'535);
  r.boolean(t, p, "tls", h.tls);
  read_tls_settings(r, t, p, source, h.tls, "tls = true", "tls = true", h.tls_settings);
  r.boolean(t, p, "metrics_auth", h.metrics_auth);
  r.integer(t, p, "max_connections", h.max_connections, 1, 100'000);
  r.integer(t, p, "max_body_size", h.max_body_size, 1'024, std::int64_t{1} << 30);
  r.integer(t, p, "request_timeout", h.request_timeout, 1, 3'600);
  r.integer(t, p, "idle_timeout", h.idle_timeout, 1, 86'400);
  if (const auto* node = t.get("admin_tokens")) {
    const auto* tokens = node->as_table();
    if (!tokens) r.fail(node, p + "admin_tokens", "must be a table of NAME = \"TOKEN\"");
    for (const auto& [name, value] : *tokens) {
      const std::string key = p + "admin_tokens." + std::string(name.str());
      const auto* v = value.as_string();
      if (!v) r.fail(&value, key, "must be a string");
      // A bearer token is the whole of the admin's credential: no short ones.
      if (v->get().size() < 16) r.fail(&value, key, "a token needs at least 16 characters");
      if (v->get().find_first_of(" \t\r\n") != std::string::npos) r.fail(&value, key, "a token has no spaces");
      h.admin_tokens.emplace_back(std::string(name.str()), v->get());
    }
  }
}

// The certificate's names come from the TLS handshake, or from a proxy that terminated TLS.
void check_identity(const Reader& r, const toml::table& t, const std::string& p, const ListenerConfig& l) {
  if (l.identity_as_username == CertificateIdentity::off || l.proxy_protocol) return;
  if (!l.is_tls()) {
    r.fail(t.get("identity_as_username"), p + "identity_as_username",
           "needs transport = \"tls\" or \"wss\" with client certificates, or proxy_protocol = true");
  }
  if (l.tls.client_certificates == net::ClientCertificates::off) {
    r.fail(t.get("identity_as_username"), p + "identity_as_username",
           "needs client_certificates = \"optional\" or \"required\"");
  }
}

void read_websocket(const Reader& r, const toml::table& t, const std::string& p, ListenerConfig& l) {
  r.string(t, p, "ws_path", l.ws_path);
  if (l.ws_path.empty() || l.ws_path.front() != '/' || l.ws_path.find_first_of("? \t\r\n") != std::string::npos) {
    r.fail(t.get("ws_path"), p + "ws_path", "must be a path starting with '/' (no query, no spaces)");
  }
  r.strings(t, p, "ws_origins", l.ws_origins, [](const std::string& o) {
    const auto scheme = o.find("://");
    const bool ok = scheme != std::string::npos && scheme > 0 && o.size() > scheme + 3 &&
                    o.find('/', scheme + 3) == std::string::npos;
    return ok ? std::string() : std::string("an origin is scheme://host[:port], no path");
  });
  r.integer(t, p, "ws_max_message_size", l.ws_max_message_size, 2, 268'435'460);
  if (!l.is_ws()) {
    for (const char* key : {"ws_path", "ws_origins", "ws_max_message_size"}) {
      if (const auto* node = t.get(key)) r.fail(node, p + key, "a WebSocket option: needs transport = \"ws\" or \"wss\"");
    }
  }
}

void read_trusted_proxies(const Reader& r, const toml::table& t, const std::string& p, ListenerConfig& l) {
  std::vector<std::string> ranges;
  r.strings(t, p, "trusted_proxies", ranges, [](const std::string& s) {
    return net::AddressRange::parse(s) ? std::string() : std::string("not an address or ADDRESS/PREFIX range");
  });
  for (const auto& s : ranges) l.trusted_proxies.push_back(*net::AddressRange::parse(s));
  r.boolean(t, p, "proxy_protocol", l.proxy_protocol);
  if (l.proxy_protocol && l.trusted_proxies.empty()) {
    r.fail(t.get("proxy_protocol"), p + "proxy_protocol",
           "needs trusted_proxies: the header is a claim, taken only from the proxies named there");
  }
}

void read_address_lists(const Reader& r, const toml::table& t, const std::string& p, ListenerConfig& l) {
  r.integer(t, p, "max_connections", l.max_connections, 0, std::numeric_limits<std::uint32_t>::max());
  const std::pair<const char*, std::vector<net::AddressRange>*> lists[] = {{"allow", &l.allow}, {"deny", &l.deny}};
  for (const auto& [key, out] : lists) {
    std::vector<std::string> ranges;
    r.strings(t, p, key, ranges, [](const std::string& s) {
      return net::AddressRange::parse(s) ? std::string() : std::string("not an address or ADDRESS/PREFIX range");
    });
    for (const auto& s : ranges) out->push_back(*net::AddressRange::parse(s));
  }
}

void read_listeners(const Reader& r, const toml::table& root, Config& c) {
  const auto* node = root.get("listeners");
  if (!node) return;
  const auto* arr = node->as_array();
  if (!arr) r.fail(node, "listeners", "must be an array of tables ([[listeners]])");
  c.listeners.clear();
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const auto& item = (*arr)[i];
    const std::string p = "listeners[" + std::to_string(i) + "].";
    const auto* t = item.as_table();
    if (!t) r.fail(&item, "listeners[" + std::to_string(i) + "]", "must be a table");
    r.only(*t, p, {"bind", "port", "transport", "cert_file", "key_file", "key_password_file", "ca_file", "ca_dir",
                   "crl_file", "client_certificates", "identity_as_username", "tls_min_version", "ciphers",
                   "ciphersuites", "ws_path", "ws_origins", "ws_max_message_size", "trusted_proxies",
                   "proxy_protocol", "max_connections", "allow", "deny"});
    ListenerConfig l;
    l.source = c.source;
    l.index = i;
    for (const auto& [k, v] : *t) l.key_lines.emplace_back(std::string(k.str()), v.source().begin.line);
    r.string(*t, p, "bind", l.bind);
    r.integer(*t, p, "port", l.port, 0, 65'535);
    r.string(*t, p, "transport", l.transport);
    if (l.transport != "tcp" && l.transport != "tls" && l.transport != "ws" && l.transport != "wss") {
      r.fail(t->get("transport"), p + "transport", "must be tcp, tls, ws or wss");
    }
    read_tls(r, *t, p, c.source, l);
    read_websocket(r, *t, p, l);
    read_trusted_proxies(r, *t, p, l);
    read_address_lists(r, *t, p, l);
    choice(r, *t, p, "identity_as_username", l.identity_as_username, {"off", "cn", "subject"});
    check_identity(r, *t, p, l);
    c.listeners.push_back(l);
  }
  if (c.listeners.empty()) r.fail(node, "listeners", "at least one listener is needed");
}

}  // namespace

ConfigError::ConfigError(const std::string& file, std::size_t line, const std::string& key, const std::string& message)
    : std::runtime_error(format_error(file, line, key, message)) {}

std::size_t ListenerConfig::line_of(const std::string& key) const {
  for (const auto& [k, line] : key_lines) {
    if (k == key) return line;
  }
  return 0;
}

std::string ListenerConfig::name() const {
  const bool v6 = bind.find(':') != std::string::npos;
  return (v6 ? "[" + bind + "]" : bind) + ":" + std::to_string(port);
}

std::vector<ListenerConfig> default_listeners() {
  std::vector<ListenerConfig> out(2);
  out[1].bind = "::1";
  out[1].index = 1;  // Policy::listener(index) finds its reloadable keys by it
  return out;
}

unsigned Config::resolved_workers() const {
  if (workers != 0) return workers;
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : n;
}

Config parse_config(const std::string& text, const std::string& source) {
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    throw ConfigError(source, e.source().begin.line, "", std::string(e.description()));
  }
  Config c;
  c.source = source;
  const Reader r(source);
  r.only(root, "", {"broker", "listeners", "limits", "features", "store", "auth", "http"});
  if (const auto* t = r.table(root, "broker")) read_broker(r, *t, c);
  if (const auto* t = r.table(root, "limits")) read_limits(r, *t, c.limits);
  if (const auto* t = r.table(root, "features")) read_features(r, *t, c.features);
  if (const auto* t = r.table(root, "store")) {
    r.only(*t, "store.", {"path", "mode", "ack_on_delivery_ms"});
    r.string(*t, "store.", "path", c.data_dir);
    r.integer(*t, "store.", "ack_on_delivery_ms", c.ack_on_delivery_ms, 0, 60'000);
    r.string(*t, "store.", "mode", c.store_mode);
    if (c.store_mode != "fsync" && c.store_mode != "wal" && c.store_mode != "memory") {
      r.fail(t->get("mode"), "store.mode", "must be one of fsync, wal, memory");
    }
  }
  if (const auto* t = r.table(root, "auth")) read_auth(r, *t, source, c.auth);
  if (const auto* t = r.table(root, "http")) read_http(r, *t, source, c.http);
  read_listeners(r, root, c);
  return c;
}

std::vector<std::string> apply_reloadable(const Config& reloaded, Config& running) {
  auto& to = running.limits;
  const auto& from = reloaded.limits;
  to.message_rate = from.message_rate;
  to.byte_rate = from.byte_rate;
  to.max_subscriptions = from.max_subscriptions;
  to.max_topic_length = from.max_topic_length;
  to.max_topic_depth = from.max_topic_depth;
  to.memory_budget = from.memory_budget;
  to.max_connections_per_address = from.max_connections_per_address;
  to.address_prefix_v4 = from.address_prefix_v4;
  to.address_prefix_v6 = from.address_prefix_v6;
  to.connect_rate_per_address = from.connect_rate_per_address;
  to.login_failure_delay_ms = from.login_failure_delay_ms;
  to.login_failure_delay_max_ms = from.login_failure_delay_max_ms;
  to.login_failure_quiet_period = from.login_failure_quiet_period;
  to.flapping_connects = from.flapping_connects;
  to.flapping_window = from.flapping_window;
  to.flapping_ban = from.flapping_ban;
  running.auth.acl_file = reloaded.auth.acl_file;
  running.auth.disconnect_removed_users = reloaded.auth.disconnect_removed_users;
  running.http.admin_tokens = reloaded.http.admin_tokens;
  running.http.metrics_auth = reloaded.http.metrics_auth;
  std::vector<std::string> unchanged;
  for (std::size_t i = 0; i < running.listeners.size(); ++i) {
    auto& l = running.listeners[i];
    const bool same = i < reloaded.listeners.size() && reloaded.listeners[i].bind == l.bind &&
                      reloaded.listeners[i].port == l.port && reloaded.listeners[i].transport == l.transport;
    if (!same) {
      unchanged.push_back(l.name());
      continue;
    }
    const auto& r = reloaded.listeners[i];
    l.max_connections = r.max_connections;
    l.allow = r.allow;
    l.deny = r.deny;
  }
  return unchanged;
}

Config load_config_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path, 0, "", "cannot open file");
  std::stringstream buf;
  buf << in.rdbuf();
  return parse_config(buf.str(), path);
}

}  // namespace hermod::broker
