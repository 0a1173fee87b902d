// hermod: the broker daemon. Parses the command line, loads the configuration, runs the broker
// until SIGINT or SIGTERM; SIGHUP reloads the password and ACL files, the TLS files and the
// reloadable limits. Under systemd (Type=notify) it reports readiness, reloads and the stop
// (service_notify.hpp). `hermod passwd` edits a password file instead (passwd_command.cpp),
// `hermod convert-config` converts a mosquitto.conf (convert_config_command.cpp). Exit codes: 0 clean stop, 1 configuration or start-up error.
#include <malloc.h>

#include <csignal>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "broker/broker.hpp"
#include "broker/config/config.hpp"
#include "base/log.hpp"
#include "broker/store/store.hpp"
#include "convert_config_command.hpp"
#include "http/operator_server.hpp"
#include "passwd_command.hpp"
#include "service_notify.hpp"

namespace {

struct Options {
  std::string config_file;
  std::optional<std::uint16_t> port;
  std::vector<std::string> bind;
  std::optional<unsigned> workers;
  std::string data_dir;
  std::string store_mode;
  bool store_reset = false;
  bool verbose = false;
};

hermod::broker::Config make_config(const Options& o) {
  using namespace hermod::broker;
  Config c = o.config_file.empty() ? Config{} : load_config_file(o.config_file);
  if (o.port || !o.bind.empty()) {
    // -p/--bind replace the configured listeners.
    const auto port = o.port.value_or(c.listeners.empty() ? 1883 : c.listeners.front().port);
    std::vector<std::string> addrs = o.bind;
    if (addrs.empty()) addrs = {"127.0.0.1"};
    c.listeners.clear();
    for (const auto& a : addrs) {
      ListenerConfig l;
      l.bind = a;
      l.port = port;
      c.listeners.push_back(std::move(l));
    }
  }
  if (o.workers) c.workers = *o.workers;
  if (!o.data_dir.empty()) c.data_dir = o.data_dir;
  if (!o.store_mode.empty()) c.store_mode = o.store_mode;
  if (o.verbose) c.log_level = "debug";
  return c;
}

// The STATUS= line while the broker serves: where it listens and where its data lives.
std::string serving_status(const hermod::broker::Config& config) {
  std::string s = "accepting MQTT connections on";
  for (std::size_t i = 0; i < config.listeners.size(); ++i) {
    s += (i ? ", " : " ") + config.listeners[i].name();
  }
  const bool stored = !config.data_dir.empty() && config.store_mode != "memory";
  s += stored ? "; data in " + config.data_dir : "; no store (memory mode)";
  return s;
}

// A start-up message once logging is set up: "hermod: ..." on stderr, or with log_format = "json"
// a log line, so that every line a collector reads parses.
void say(const hermod::broker::Config& config, bool error, const std::string& message) {
  if (config.log_format != "json") {
    std::cerr << "hermod: " << message << "\n";
  } else if (error) {
    hermod::logger("broker")->error("{}", message);
  } else {
    hermod::logger("broker")->info("{}", message);
  }
}

// Blocks until SIGINT or SIGTERM, reloading on every SIGHUP meanwhile (told to systemd as
// RELOADING=1, then READY=1 with `status`) and, every `interval` seconds (0: never), reloading
// what changed (TLS files; configuration, password and ACL files). The three signals are blocked
// in every thread so only this thread sees them.
int run_until_stop_signal(const sigset_t& set, hermod::broker::Broker& broker, hermod::http::OperatorServer* http,
                          std::uint32_t interval, const std::string& status) {
  for (;;) {
    int sig = 0;
    if (interval == 0) {
      sigwait(&set, &sig);
    } else {
      // The file check: with no signal within the interval, look at the files' times and sizes.
      const timespec timeout{static_cast<time_t>(interval), 0};
      sig = sigtimedwait(&set, nullptr, &timeout);
      if (sig < 0) {
        broker.reload_changed_files();
        if (http) http->reloaded();
        continue;
      }
    }
    if (sig != SIGHUP) return sig;
    hermod::cli::notify_reloading();
    broker.reload();
    if (http) http->reloaded();
    hermod::cli::notify_ready(status);
  }
}

}  // namespace

int main(int argc, char** argv) {
  // For a build with glibc's allocator (-DHERMOD_MIMALLOC=OFF; mimalloc ignores these): keep
  // freed memory instead of giving it back to the kernel after every burst: glibc's default
  // trimming made each loop turn fault fresh zeroed pages in for its write buffers (3 % of the
  // broker's CPU on fanin). Buffers up to 4 MiB come from the heap rather than from mmap.
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  mallopt(M_MMAP_THRESHOLD, 4 << 20);
  CLI::App app{"hermod: an MQTT broker (MQTT 3.1, 3.1.1 and 5.0)"};
  app.set_version_flag("--version", std::string("hermod ") + HERMOD_VERSION);
  Options o;
  app.add_option("-c,--config", o.config_file, "configuration file (TOML); see docs/configuration.md")
      ->check(CLI::ExistingFile);
  app.add_option("-p,--port", o.port, "listen on this port (replaces the configured listeners)");
  app.add_option("--bind", o.bind, "address to listen on (repeatable; default 127.0.0.1 with -p)");
  app.add_option("--workers", o.workers, "worker threads; 0 = one per hardware thread");
  app.add_option("--data-dir", o.data_dir, "directory for persistent state");
  app.add_option("--store-mode", o.store_mode, "fsync (default: survives power loss), wal (survives a crash) or memory")
      ->check(CLI::IsMember({"fsync", "wal", "memory"}));
  app.add_flag("--store-reset", o.store_reset,
               "move the store in --data-dir aside as DIR.bad-<time> and start with an empty one");
  app.add_flag("-v,--verbose", o.verbose, "debug logging");
  hermod::cli::PasswdOptions passwd;
  const auto* passwd_command = hermod::cli::add_passwd_command(app, passwd);
  hermod::cli::ConvertConfigOptions convert;
  const auto* convert_command = hermod::cli::add_convert_config_command(app, convert);
  CLI11_PARSE(app, argc, argv);
  if (passwd_command->parsed()) return hermod::cli::run_passwd(passwd);
  if (convert_command->parsed()) return hermod::cli::run_convert_config(convert);

  hermod::broker::Config config;
  try {
    config = make_config(o);
  } catch (const hermod::broker::ConfigError& e) {
    std::cerr << "hermod: " << e.what() << "\n";
    return 1;
  }
  hermod::init_logging(config.log_level,
                       config.log_format == "json" ? hermod::LogFormat::json : hermod::LogFormat::text);
  if (o.store_reset && !config.data_dir.empty() && std::filesystem::exists(config.data_dir)) {
    try {
      const auto aside = hermod::broker::store::Store::move_aside(config.data_dir);
      say(config, false, "moved the old store to " + aside);
    } catch (const std::exception& e) {
      say(config, true, "cannot move " + config.data_dir + " aside: " + e.what());
      return 1;
    }
  }

  // Block the stop and reload signals before any thread starts, so the workers inherit the mask.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  hermod::broker::Broker broker(config);
  // Destroyed before the broker: requests still waiting on a worker are answered first.
  std::unique_ptr<hermod::http::OperatorServer> http;
  try {
    broker.start();
    http = hermod::http::OperatorServer::make(broker);
    if (http) http->start();
  } catch (const std::exception& e) {
    say(config, true, e.what());
    return 1;
  }
  const std::string status = serving_status(config);
  hermod::cli::notify_ready(status);
  const int sig = run_until_stop_signal(set, broker, http.get(), config.file_check_interval, status);
  hermod::cli::notify_stopping();
  hermod::logger("broker")->info("received {}, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
  broker.stop();
  if (http) http->stop();
  return 0;
}
