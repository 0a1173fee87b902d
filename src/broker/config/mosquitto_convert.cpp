#include "broker/config/mosquitto_convert.hpp"

#include <algorithm>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>

#include "broker/config/config.hpp"
#include "broker/config/mosquitto_listeners.hpp"
#include "broker/config/mosquitto_settings.hpp"
#include "broker/config/toml_writer.hpp"

namespace hermod::broker::mosquitto {

namespace fs = std::filesystem;

namespace {

// Hermod's bounds (config.cpp) that mosquitto values are fitted into.
constexpr std::int64_t kMaxInflight = 65'535;
constexpr std::int64_t kMaxQueuedMessages = 100'000'000;
constexpr std::int64_t kMaxQueuedBytes = std::int64_t{1} << 50;
constexpr std::int64_t kMaxPacketSize = 268'435'460;
constexpr std::int64_t kMaxSysInterval = 86'400;
constexpr std::int64_t kMinMemoryBudget = std::int64_t{1} << 20;
constexpr std::int64_t kMaxMemoryBudget = std::int64_t{1} << 50;
constexpr std::size_t kEnd = std::numeric_limits<std::size_t>::max();  // seq of file-level warnings

// Where a file-level warning points: the main file, after every line.
Origin whole(const Settings& s) { return Origin{s.main_file, 0, kEnd}; }

// The user names of a password file in mosquitto's format ("user:hash" lines), for the
// comment that says whom to add again. Empty if it cannot be read.
std::vector<std::string> users_of(const std::string& path) {
  std::vector<std::string> users;
  std::ifstream in(path, std::ios::binary);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.front() == '#') continue;
    users.push_back(line.substr(0, line.find(':')));
  }
  return users;
}

std::string join(const std::vector<std::string>& items, std::size_t most) {
  std::string out;
  for (std::size_t i = 0; i < items.size() && i < most; ++i) out += (i ? ", " : "") + items[i];
  if (items.size() > most) out += ", and " + std::to_string(items.size() - most) + " more";
  return out;
}

class Converter {
 public:
  Converter(const Settings& s, const ConvertOptions& o, std::vector<Warning>& w) : s_(s), o_(o), warnings_(w) {}

  std::string run() {
    carried_ = convert_listeners(s_, warnings_);
    limits();
    auth();
    store();
    return render();
  }

 private:
  void warn(const Origin& at, const std::string& key, std::string message) {
    warnings_.push_back({at, key, std::move(message)});
  }
  template <typename T>
  void warn(const Setting<T>& s, const std::string& key, std::string message) {
    warn(s.at, key, std::move(message));
  }

  // --- limits

  // The listeners carried over that came from mosquitto listeners (not local-only mode).
  std::vector<const Listener*> sources() const {
    std::vector<const Listener*> out;
    if (s_.local_only()) return out;
    for (const auto& c : carried_) out.push_back(c.from);
    return out;
  }

  void limits() {
    max_connections();
    memory_limit();
    per_listener_max("max_qos", "max_qos", &Listener::max_qos, 2);
    per_listener_max("max_topic_alias", "topic_alias_maximum", &Listener::max_topic_alias, 10);
    if (s_.max_inflight_messages.given()) {
      const auto& m = s_.max_inflight_messages;
      std::int64_t v = m.value;
      if (v <= 0 || v > kMaxInflight) {
        warn(m, "max_inflight_messages",
             std::string(v <= 0 ? "no limit in mosquitto" : "above Hermod's limit") +
                 ": limits.max_inflight = 65535, Hermod's largest");
        v = kMaxInflight;
      }
      limits_.put_int("max_inflight", v);
    }
    if (s_.max_queued_messages.given()) {
      const auto& m = s_.max_queued_messages;
      std::int64_t v = m.value;
      if (v <= 0 || v > kMaxQueuedMessages) {
        warn(m, "max_queued_messages",
             std::string(v <= 0 ? "no limit in mosquitto" : "above Hermod's limit") +
                 ": limits.max_queued_messages = 100000000, Hermod's largest");
        v = kMaxQueuedMessages;
      }
      limits_.put_int("max_queued_messages", v);
    }
    if (s_.max_queued_bytes.given()) {
      limits_.put_int("max_queued_bytes", std::clamp<std::int64_t>(s_.max_queued_bytes.value, 0, kMaxQueuedBytes));
    }
    packet_size();
    if (s_.max_keepalive.given()) {
      if (s_.max_keepalive.value == 0) {
        warn(s_.max_keepalive, "max_keepalive",
             "0 is not carried over: in Hermod limits.max_keepalive = 0 means no cap");
      } else {
        limits_.put_int("max_keepalive", s_.max_keepalive.value);
      }
    }
    if (s_.queue_qos0_messages.given()) limits_.put_bool("queue_qos0", s_.queue_qos0_messages.value);
    if (s_.sys_interval.given()) {
      std::int64_t v = s_.sys_interval.value;
      if (v > kMaxSysInterval) {
        warn(s_.sys_interval, "sys_interval", "above Hermod's limit: broker.sys_interval = 86400");
        v = kMaxSysInterval;
      }
      broker_.put_int("sys_interval", v);
    }
    if (s_.retain_available.given()) features_.put_bool("retain_available", s_.retain_available.value);
  }

  // Mosquitto's max_connections counts each listener, as Hermod's [[listeners]] max_connections
  // does (-1, its default, and 0 mean no limit; Hermod's 0 does).
  void max_connections() {
    if (s_.local_only()) return;
    for (auto& c : carried_) {
      const auto& m = c.from->max_connections;
      if (m.value <= 0) continue;
      c.table.put_int("max_connections", std::min<std::int64_t>(m.value, std::numeric_limits<std::uint32_t>::max()));
    }
  }

  // Mosquitto's memory_limit caps the heap, refusing allocations (and disconnecting the client
  // concerned) above it; Hermod's memory_budget caps what its queues hold, slowing publishers and
  // dropping QoS 0 to slow subscribers instead. The nearest thing, with a warning.
  void memory_limit() {
    const auto& m = s_.memory_limit;
    if (!m.given()) return;
    if (m.value == 0) {
      warn(m, "memory_limit",
           "0 (no limit, mosquitto's default) is not carried over: Hermod keeps its default limits.memory_budget "
           "(64 MiB of queued data, above which publishers are slowed); set it to 0 for no budget");
      return;
    }
    const std::int64_t v = std::clamp(m.value, kMinMemoryBudget, kMaxMemoryBudget);
    limits_.put_int("memory_budget", v);
    warn(m, "memory_limit",
         "limits.memory_budget = " + std::to_string(v) +
             (v != m.value ? std::string(" (Hermod's ") + (v == kMinMemoryBudget ? "smallest" : "largest") + ")"
                           : std::string()) +
             ": Hermod counts what its queues hold, not the whole heap, and above it slows publishers and drops QoS "
             "0 messages to slow subscribers where mosquitto refused the allocation and disconnected the client");
  }

  // A per-listener limit of mosquitto that is global in Hermod: the largest of the listeners'.
  void per_listener_max(const std::string& key, const std::string& hermod_key, Setting<std::int64_t> Listener::*field,
                        std::int64_t mosquitto_default) {
    const auto from = sources();
    bool any = false;
    std::int64_t most = -1;
    for (const auto* l : from) {
      const auto& v = l->*field;
      any = any || v.given();
      most = std::max(most, v.given() ? v.value : mosquitto_default);
    }
    if (!any) return;
    limits_.put_int(hermod_key, most);
    for (const auto* l : from) {
      const auto& v = l->*field;
      if ((v.given() ? v.value : mosquitto_default) != most && v.given()) {
        warn(v, key, "Hermod's limits." + hermod_key + " is the same for every listener: set to " +
                         std::to_string(most) + ", the largest of the listeners'");
      }
    }
  }

  void packet_size() {
    const auto& payload = s_.message_size_limit;
    const auto& packet = s_.max_packet_size;
    std::int64_t v = 0;
    if (packet.given() && packet.value > 0) v = packet.value;
    if (payload.given() && payload.value > 0) {
      const std::int64_t from_payload = std::min<std::int64_t>(payload.value + kPublishOverhead, kMaxPacketSize);
      const bool packet_smaller = v != 0 && v < from_payload;
      if (!packet_smaller) v = from_payload;
      warn(payload, "message_size_limit",
           "mosquitto limits a PUBLISH payload and drops a larger message (the client stays connected); Hermod "
           "limits whole packets and closes the connection of a client that sends a larger one: "
           "limits.max_packet_size = " + std::to_string(v) +
               (packet_smaller ? " (mosquitto's max_packet_size, the smaller)"
                               : " (this limit plus " + std::to_string(kPublishOverhead) +
                                     " bytes for the header, the longest topic name and the packet id)"));
    }
    if (v != 0) limits_.put_int("max_packet_size", v);
  }

  // --- auth

  struct Auth {
    Setting<std::string> password_file;
    Setting<std::string> acl_file;
    bool allow_anonymous = false;
    Origin anonymous_at;
  };

  // The security settings that apply; with per_listener_settings, those of all carried-over
  // listeners made into one (the strictest, with warnings).
  Auth effective_auth() {
    Auth a;
    const bool anonymous_default = s_.local_only();
    if (!s_.per_listener_settings.value) {
      a.password_file = s_.security.password_file;
      a.acl_file = s_.security.acl_file;
      a.allow_anonymous = s_.security.allow_anonymous.given() ? s_.security.allow_anonymous.value : anonymous_default;
      a.anonymous_at = s_.security.allow_anonymous.at;
      return a;
    }
    std::vector<const Listener*> from = sources();
    if (from.empty()) from.push_back(&s_.default_listener);  // local-only mode uses its settings
    a.allow_anonymous = true;
    bool anonymous_differs = false;
    std::optional<bool> first_anonymous;
    for (const auto* l : from) {
      const auto& sec = l->security;
      const bool anonymous = sec.allow_anonymous.given() ? sec.allow_anonymous.value : anonymous_default;
      if (first_anonymous && *first_anonymous != anonymous) anonymous_differs = true;
      first_anonymous = anonymous;
      if (!anonymous) {
        if (a.allow_anonymous) a.anonymous_at = sec.allow_anonymous.at;
        a.allow_anonymous = false;
      }
      one_file(sec.password_file, a.password_file, "password_file", "password file");
      one_file(sec.acl_file, a.acl_file, "acl_file", "ACL file");
    }
    if (anonymous_differs) {
      warn(s_.per_listener_settings, "per_listener_settings",
           "the listeners differ in allow_anonymous, and Hermod's [auth] is the same for every listener: anonymous "
           "clients are refused on all of them (the strictest)");
    }
    if (a.password_file.given()) {
      for (const auto* l : from) {
        if (l->security.password_file.given()) continue;
        warn(l->at, "per_listener_settings",
             "the listener at " + l->at.str() + " has no password_file; Hermod checks user names and passwords on "
             "every listener against " + a.password_file.value);
      }
    }
    if (a.acl_file.given()) {
      for (const auto* l : from) {
        if (l->security.acl_file.given()) continue;
        warn(l->at, "per_listener_settings",
             "the listener at " + l->at.str() + " has no acl_file, so mosquitto let its clients use every topic; "
             "Hermod applies " + a.acl_file.value + " on every listener");
      }
    }
    return a;
  }

  // With per_listener_settings: Hermod's one `file` for every listener is the first listener's
  // that names one; another listener's different one gets a warning.
  void one_file(const Setting<std::string>& listener_file, Setting<std::string>& file, const std::string& key,
                const std::string& what) {
    if (!listener_file.given()) return;
    if (!file.given()) {
      file = listener_file;
    } else if (listener_file.value != file.value) {
      warn(listener_file, key,
           "Hermod has one " + what + " for every listener: " + file.value + " (" + file.at.str() +
               ") is used instead");
    }
  }

  void auth() {
    const Auth a = effective_auth();
    std::string file = a.password_file.value;
    if (a.password_file.given()) {
      const PasswordFileProblem problem =
          o_.password_file_problem ? o_.password_file_problem(file) : PasswordFileProblem{};
      if (problem.plain_text) {
        // Named as it is: Hermod refuses to start until the file is hashed, and says how.
        warn(a.password_file, "password_file",
             "the file holds plain-text passwords, which mosquitto 2 ignores and Hermod refuses (" + problem.what +
                 "). Run `hermod passwd -U " + file +
                 "` before starting Hermod: it hashes them in place into SCRAM-SHA-256 entries, and Hermod then "
                 "accepts those users, whom mosquitto 2 refused; mosquitto reads no SCRAM entries "
                 "(`mosquitto_passwd -U` makes hashes both read)");
        auth_.comment("holds plain-text passwords: run `hermod passwd -U " + file + "` before starting Hermod.");
      } else if (!problem.what.empty()) {
        const auto users = users_of(file);
        warn(a.password_file, "password_file",
             "Hermod cannot read this file (" + problem.what + "): correct that line, or make a Hermod password "
             "file with `hermod passwd FILE USER` for each user" +
                 (users.empty() ? std::string() : " (" + join(users, 8) + ")") +
                 " and set [auth] password_file to it; until then no user name and password is accepted");
        auth_.comment("mosquitto's password file " + file);
        auth_.comment("has a line Hermod cannot read. Correct it, or make a Hermod password file with");
        auth_.comment("`hermod passwd FILE USER` for each user" +
                      (users.empty() ? std::string() : " (" + join(users, 8) + ")") + " and name it here;");
        auth_.comment("until then this empty one accepts no user name and password.");
        file = "/dev/null";
      }
    } else if (!a.allow_anonymous) {
      // Mosquitto with neither a password file nor anonymous clients refuses every client (but
      // those named by their certificate): an empty password file does that in Hermod.
      warn(a.anonymous_at.line ? a.anonymous_at : whole(s_), "allow_anonymous",
           std::string(a.anonymous_at.line ? "false" : "false (mosquitto's default once a listener is configured)") +
               " and no password_file: mosquitto refuses every client that is not named by its certificate. "
               "The converted configuration does the same with an empty password file (/dev/null)");
      auth_.comment("mosquitto refused every client here: anonymous ones (allow_anonymous false) and, with no");
      auth_.comment("password file, those with a user name. An empty password file does the same.");
      file = "/dev/null";
    }
    if (!file.empty()) auth_.put_string("password_file", file);
    auth_.put_bool("allow_anonymous", a.allow_anonymous);
    acl(a.acl_file);
  }

  // Hermod reads mosquitto's acl_file format: the file is named as it is.
  void acl(const Setting<std::string>& file) {
    if (!file.given()) return;
    const std::string problem = o_.acl_file_problem ? o_.acl_file_problem(file.value) : std::string();
    if (!problem.empty()) {
      warn(file, "acl_file",
           "Hermod cannot read this file (" + problem + ") and refuses to start with it: correct that line");
    }
    auth_.put_string("acl_file", file.value);
  }

  // --- store

  void store() {
    if (!s_.persistence.value) {
      if (s_.persistence_location.given()) {
        warn(s_.persistence_location, "persistence_location", "no effect without persistence true; not carried over");
      }
      return;
    }
    const std::string location =
        s_.persistence_location.given() ? s_.persistence_location.value : absolute_path(".", o_.cwd);
    const std::string path = (fs::path(location) / "hermod").lexically_normal().string();
    store_.comment("mosquitto kept its database (mosquitto.db) in " + location + "; Hermod's store is a");
    store_.comment("directory of its own, made here. mosquitto.db is not read: the sessions and retained");
    store_.comment("messages in it are not carried over.");
    store_.put_string("path", path);
  }

  // --- output

  std::string render() const {
    std::ostringstream out;
    out << "# Hermod configuration converted from " << toml_comment(absolute_path(s_.main_file, o_.cwd)) << "\n";
    if (!s_.included.empty()) {
      out << "# and the include_dir files";
      for (const auto& f : s_.included) out << " " << toml_comment(absolute_path(f, o_.cwd));
      out << "\n";
    }
    out << "# by `hermod convert-config` (Hermod " << HERMOD_VERSION << "). The options it does not carry over\n"
        << "# were reported as warnings; docs/migrating-from-mosquitto.md has the whole mapping.\n";
    broker_.render(out);
    for (const auto& c : carried_) c.table.render(out);
    limits_.render(out);
    features_.render(out);
    auth_.render(out);
    store_.render(out);
    return out.str();
  }

  const Settings& s_;
  const ConvertOptions& o_;
  std::vector<Warning>& warnings_;
  std::vector<CarriedListener> carried_;
  TomlTable broker_{"[broker]"};
  TomlTable limits_{"[limits]"};
  TomlTable features_{"[features]"};
  TomlTable auth_{"[auth]"};
  TomlTable store_{"[store]"};
};

// Checks that Hermod loads `toml`: a value that TOML cannot hold (a path that is not UTF-8) ends
// here, and so would a mistake of this converter.
void check_loads(const std::string& toml, const std::string& main_file) {
  try {
    parse_config(toml, "<converted>");
  } catch (const ConfigError& e) {
    throw ConfigError(main_file, 0, "",
                      std::string("the converted configuration does not load in Hermod: ") +
                          e.what());
  }
}

std::string convert(const ConfText& conf, const ConvertOptions& options, std::vector<Warning>& warnings) {
  struct Sort {
    std::vector<Warning>& w;
    ~Sort() {
      std::stable_sort(w.begin(), w.end(), [](const Warning& a, const Warning& b) { return a.at.seq < b.at.seq; });
    }
  } sort{warnings};
  const Settings settings = read_settings(conf, options.cwd, warnings);
  std::string toml = Converter(settings, options, warnings).run();
  check_loads(toml, conf.main_file);
  return toml;
}

}  // namespace

std::string convert_file(const std::string& path, const ConvertOptions& options, std::vector<Warning>& warnings) {
  return convert(read_conf_file(path, options.cwd, warnings), options, warnings);
}

std::string convert_text(std::string_view text, const std::string& path, const ConvertOptions& options,
                         std::vector<Warning>& warnings) {
  return convert(read_conf_text(text, path, options.cwd, warnings), options, warnings);
}

}  // namespace hermod::broker::mosquitto
