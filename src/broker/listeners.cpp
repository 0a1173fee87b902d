#include "broker/listeners.hpp"

#include <filesystem>
#include <stdexcept>

#include "base/log.hpp"

namespace hermod::broker {

Listener::Listener(const ListenerConfig& config) : config_(config) {
  if (config_.is_ws()) {
    auto ws = std::make_shared<net::WsSettings>();
    ws->server.path = config_.ws_path;
    ws->server.origins = config_.ws_origins;
    ws->server.trusted_proxies = config_.trusted_proxies;
    ws->max_message_size = config_.ws_max_message_size;
    ws_ = std::move(ws);
  }
  if (!config_.is_tls()) return;
  tls_files_stamp_ = tls_files_stamp();
  std::string error;
  std::string key;
  tls_ = net::TlsContext::load(config_.tls, error, &key);
  if (!tls_) {
    // "hermod.toml:14: listeners[1].cert_file: listener 127.0.0.1:8883: cert_file /etc/...: reason"
    throw ConfigError(config_.source, config_.line_of(key),
                      "listeners[" + std::to_string(config_.index) + "]." + key,
                      "listener " + config_.name() + ": " + error);
  }
}

std::shared_ptr<const net::TlsContext> Listener::tls() const {
  std::lock_guard lock(mutex_);
  return tls_;
}

std::vector<std::string> Listener::tls_files_stamp() const {
  const auto& t = config_.tls;
  std::vector<std::string> out;
  for (const auto* path : {&t.cert_file, &t.key_file, &t.key_password_file, &t.ca_file, &t.ca_dir, &t.crl_file}) {
    if (path->empty()) continue;
    std::error_code ec;
    const auto when = std::filesystem::last_write_time(*path, ec);
    const auto size = std::filesystem::is_regular_file(*path, ec) ? std::filesystem::file_size(*path, ec) : 0;
    out.push_back(ec ? *path + ": missing" : *path + ":" + std::to_string(when.time_since_epoch().count()) + ":" +
                                                  std::to_string(size));
  }
  return out;
}

bool Listener::tls_files_changed() const { return config_.is_tls() && tls_files_stamp() != tls_files_stamp_; }

bool Listener::reload_tls() {
  if (!config_.is_tls()) return true;
  // Taken before the files are read: a file replaced while they are read counts as changed again.
  tls_files_stamp_ = tls_files_stamp();
  std::string error;
  auto fresh = net::TlsContext::load(config_.tls, error);
  if (!fresh) {
    logger("tls")->warn("listener {}: TLS context not reloaded, the old one stays: {}", config_.name(), error);
    return false;
  }
  {
    std::lock_guard lock(mutex_);
    tls_ = std::move(fresh);
  }
  logger("tls")->info("listener {}: reloaded TLS context (new handshakes use it; connected clients stay)",
                      config_.name());
  return true;
}

}  // namespace hermod::broker
