// A configured listener at run time: its configuration, for a WebSocket listener the settings
// its streams share, and for a TLS listener (tls, wss) the current TLS context. reload_tls() builds a new context from the files (certificate, key, CAs, CRL
// together) and swaps it in for new handshakes; connected clients keep the context they
// started with (their SSL objects hold it); if anything fails to load, the old context stays.
// Threads: built on the main thread; tls() from any worker (at each TLS accept), reload_tls()
// and tls_files_changed() from the main thread (SIGHUP, the file check): the swap is under a
// mutex.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "broker/config/config.hpp"
#include "net/tls.hpp"
#include "net/ws_stream.hpp"

namespace hermod::broker {

class Listener {
 public:
  // Loads the TLS context of a TLS listener; throws std::runtime_error naming the listener and
  // the file that failed. `config` outlives the listener.
  explicit Listener(const ListenerConfig& config);

  const ListenerConfig& config() const { return config_; }
  // The context for a new TLS connection; null for a TCP listener.
  std::shared_ptr<const net::TlsContext> tls() const;
  // The WebSocket settings of a ws or wss listener; null otherwise.
  const std::shared_ptr<const net::WsSettings>& ws() const { return ws_; }
  // See above; logs the outcome. False if the old context stayed.
  bool reload_tls();
  // Whether a TLS file's modification time (or size, or existence) changed since the last
  // load; a check for reload_tls() every broker.file_check_interval seconds.
  bool tls_files_changed() const;

 private:
  const ListenerConfig& config_;
  mutable std::mutex mutex_;
  std::shared_ptr<const net::TlsContext> tls_;
  std::shared_ptr<const net::WsSettings> ws_;
  std::vector<std::string> tls_files_stamp_;  // what tls_files_changed() compares against
  std::vector<std::string> tls_files_stamp() const;
};

}  // namespace hermod::broker
