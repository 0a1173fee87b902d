#include "broker/broker.hpp"

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include "base/log.hpp"
#include "broker/auth/acl_file.hpp"
#include "broker/durability/recovery.hpp"
#include "net/listener.hpp"

namespace hermod::broker {

namespace {
// Threads for password checks: PBKDF2 is CPU work, so a few, well below the worker count.
std::size_t check_threads(unsigned workers) { return std::max(1u, workers / 2); }
}  // namespace

Broker::Broker(Config config, Overrides overrides)
    : config_(std::move(config)),
      clock_(overrides.clock ? *overrides.clock : steady_clock_),
      auth_(config_.auth),
      retained_(overrides.retained ? *overrides.retained : local_retained_),
      directory_(config_.resolved_workers()),
      memory_(config_.limits.memory_budget, config_.resolved_workers()),
      checks_(std::make_unique<auth::CheckPool>(check_threads(config_.resolved_workers()))),
      admission_(clock_, config_.listeners.size()),
      logins_(clock_),
      refusals_(clock_),
      services_{config_, clock_, auth_, *checks_, directory_, retained_, connections_, policy_, memory_,
                admission_, logins_, refusals_} {
  // Until prepare() reads the ACL file: the configuration's limits, no ACL.
  auto initial = std::make_shared<Policy>();
  initial->config = std::make_shared<const Config>(config_);
  policy_.set(std::move(initial));
  const auto n = config_.resolved_workers();
  workers_.reserve(n);
  for (std::uint32_t i = 0; i < n; ++i) workers_.push_back(std::make_unique<Worker>(services_, i, peers_));
  for (auto& w : workers_) {
    peers_.push_back(w.get());
    route_indexes_.push_back(&w->routes());
    deliveries_.push_back(&w->delivery());
    loops_.push_back(&w->io());
  }
  for (auto& w : workers_) {
    w->routes().connect(&route_indexes_, &loops_);
    w->delivery().connect(&deliveries_, &loops_);
  }
}

Broker::~Broker() {
  stop();
  checks_.reset();  // finishes its queued checks while the workers' io_contexts still exist
}

void Broker::open_store() {
  const auto mode = store::parse_mode(config_.store_mode);
  if (config_.data_dir.empty() || mode == store::Mode::memory) {
    logger("store")->info("no data directory: running in memory mode, nothing survives a restart");
    return;
  }
  store_ = std::make_unique<store::Store>(config_.data_dir, mode);
  for (auto& w : workers_) w->attach_store(store_.get());
  logger("store")->info("store in {} ({} mode)", config_.data_dir, store::to_string(mode));
  recover();
}

void Broker::recover() {
  std::vector<RecoveryTarget> targets;
  targets.reserve(workers_.size());
  for (auto& w : workers_) {
    targets.push_back(RecoveryTarget{w->sessions(), w->routes(), w->writer(), w->stats(), w->memory().use()});
  }
  broker::recover(*store_, retained_, directory_, targets);
}

void Broker::prepare() {
  if (prepared_) return;
  prepared_ = true;
  started_at_ = clock_.now();
  auth_.load();
  auto policy = make_policy(std::make_shared<const Config>(config_), policy_generation_);
  policy_.set(policy);
  for (auto& w : workers_) w->set_policy(policy);  // no worker thread runs yet
  watched_ = file_stamps(config_);
  open_store();
}

void Broker::start() {
  prepare();
  for (const auto& l : config_.listeners) {
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(l.bind, ec);
    if (ec) throw std::runtime_error("listener " + l.bind + ": not an IP address");
    listeners_.push_back(std::make_unique<Listener>(l));  // throws if its TLS files do not load
    const Listener& listener = *listeners_.back();
    std::uint16_t port = l.port;
    for (auto& w : workers_) {
      try {
        auto a = net::open_listener(w->io(), {address, port});
        port = a.local_endpoint().port();  // with port 0, every worker joins the first one's port
        w->accept_on(std::move(a), listener);
      } catch (const boost::system::system_error& e) {
        throw std::runtime_error("listener " + l.name() + ": cannot listen on " + l.bind + " port " + std::to_string(l.port) + ": " +
                                 e.code().message());
      }
    }
    bound_ports_.push_back(port);
    logger("broker")->info("listening on {}:{} ({})", address.is_v6() ? "[" + l.bind + "]" : l.bind, port,
                           l.transport == "tcp" ? std::string("mqtt")
                           : l.is_ws()          ? "mqtt over " + l.transport + " at " + l.ws_path
                                                : "mqtt over " + l.transport);
  }
  sys_ = std::make_unique<SysTopics>(config_.sys_interval, clock_, started_at_, [this] { return totals(); },
                                     *workers_[0]);
  workers_[0]->post([this] { sys_->start(); });
  for (auto& w : workers_) w->start();
  started_ = true;
  ready_.store(true, std::memory_order_release);
  logger("broker")->info("hermod {} started with {} worker{}", HERMOD_VERSION, workers_.size(),
                         workers_.size() == 1 ? "" : "s");
}

namespace {

// "mtime:size" of `path`, or "missing".
std::string stamp(const std::string& path) {
  std::error_code ec;
  const auto time = std::filesystem::last_write_time(path, ec);
  if (ec) return "missing";
  const auto size = std::filesystem::file_size(path, ec);
  return std::to_string(time.time_since_epoch().count()) + ":" + std::to_string(ec ? 0 : size);
}

}  // namespace

std::vector<std::pair<std::string, std::string>> Broker::file_stamps(const Config& c) const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& path : {config_.source == Config{}.source ? std::string() : config_.source, c.auth.password_file,
                           c.auth.acl_file}) {
    if (!path.empty()) out.emplace_back(path, stamp(path));
  }
  return out;
}

std::vector<std::string> Broker::reload() {
  std::lock_guard lock(reload_mutex_);
  std::vector<std::string> problems;
  for (auto& l : listeners_) {
    if (l->config().is_tls() && !l->reload_tls()) {
      problems.push_back("listener " + l->config().name() + ": TLS files not reloaded, the previous ones stay in use");
    }
  }
  reload_policy(problems);
  return problems;
}

void Broker::reload_policy(std::vector<std::string>& problems) {
  const auto current = policy_.current();
  auto running = std::make_shared<Config>(*current->config);
  if (config_.source != Config{}.source) {
    try {
      const auto unchanged = apply_reloadable(load_config_file(config_.source), *running);
      for (const auto& name : unchanged) {
        logger("broker")->warn("reload: listener {} is not the same in {} any more: its bind, port and transport, "
                               "and its keys, change only with a restart", name, config_.source);
      }
    } catch (const ConfigError& e) {
      // The files below are read again all the same, from the paths in force.
      logger("broker")->warn("reload: configuration not read, its previous values stay in force: {}", e.what());
      problems.emplace_back(e.what());
    }
  }
  if (!config_.auth.password_file.empty()) {
    if (auto error = auth_.reload(); !error.empty()) problems.push_back(std::move(error));
  }
  auto next = std::make_shared<Policy>();
  next->generation = ++policy_generation_;
  next->acl = current->acl;
  if (running->auth.acl_file.empty()) {
    if (current->acl) logger("auth")->warn("reload: no acl_file any more: every client may use every topic");
    next->acl = nullptr;
  } else {
    try {
      next->acl = auth::load_acl_file(running->auth.acl_file, next->generation);
      logger("auth")->info("reloaded ACL file {}: {} rule{}", running->auth.acl_file, next->acl->rule_count(),
                           next->acl->rule_count() == 1 ? "" : "s");
    } catch (const ConfigError& e) {
      // Never fail open: a file that does not parse changes nothing.
      logger("auth")->warn("reload: ACL not reloaded, the previous rules stay in force: {}", e.what());
      problems.emplace_back(e.what());
      running->auth.acl_file = current->config->auth.acl_file;
    }
  }
  next->config = running;
  watched_ = file_stamps(*running);
  policy_.set(next);
  // The memory budget is read through MemoryBudget::budget(): each worker's next turn uses it.
  memory_.set_budget(running->limits.memory_budget);
  for (auto& w : workers_) {
    w->post([w = w.get(), next] { w->set_policy(next); });
  }
  if (running->auth.disconnect_removed_users) {
    if (auto table = auth_.passwords()) {
      for (auto& w : workers_) {
        w->post([w = w.get(), table] { w->close_unknown_users(*table); });
      }
    }
  }
}

void Broker::reload_changed_files() {
  std::lock_guard lock(reload_mutex_);
  for (auto& l : listeners_) {
    if (!l->tls_files_changed()) continue;
    logger("tls")->info("listener {}: a TLS file changed", l->config().name());
    (void)l->reload_tls();
  }
  const auto now = file_stamps(*policy_.current()->config);
  if (now == watched_) return;
  for (std::size_t i = 0; i < now.size(); ++i) {
    if (i >= watched_.size() || now[i] != watched_[i]) logger("broker")->info("{} changed: reloading", now[i].first);
  }
  std::vector<std::string> problems;  // logged where found
  reload_policy(problems);
}

void Broker::stop() {
  if (!started_) return;
  started_ = false;
  ready_.store(false, std::memory_order_release);
  workers_[0]->post([this] { sys_->stop(); });
  for (auto& w : workers_) w->shutdown();
  for (auto& w : workers_) w->join();
  store_.reset();
  logger("broker")->info("stopped");
}

BrokerTotals Broker::totals() const {
  BrokerTotals t;
  for (const auto& w : workers_) {
    auto& s = w->stats();
    t.clients_connected += s.clients_connected.get();
    t.sessions += s.sessions.get();
    t.messages_received += s.received.total();
    t.messages_sent += s.sent.total();
    t.bytes_received += s.bytes_received.get();
    t.bytes_sent += s.bytes_sent.get();
    t.messages_dropped += s.dropped_total();
    t.messages_refused_acl += s.messages_refused_acl.get();
    t.subscriptions_refused_acl += s.subscriptions_refused_acl.get();
    t.publishes_rate_limited += s.publishes_rate_limited.get();
    t.subscriptions += s.subscriptions.get();
    t.memory_exceeded += s.memory_exceeded.get();
    t.memory_reads_paused += s.memory_reads_paused.get();
    t.memory_dropped += s.dropped_for(DropReason::memory_budget);
    t.memory_releases += s.memory_releases.get();
    t.connections_refused_denied += s.connections_refused_denied.get();
    t.connections_refused_listener_full += s.connections_refused_listener_full.get();
    t.connections_refused_address_full += s.connections_refused_address_full.get();
    t.connections_refused_connect_rate += s.connections_refused_connect_rate.get();
    t.connections_refused_proxy += s.connections_refused_proxy.get();
    t.logins_delayed += s.logins_delayed.get();
    t.connects_banned += s.connects_banned.get();
    t.flapping_bans += s.flapping_bans.get();
  }
  t.retained = retained_.size();
  t.memory_used = memory_.used();
  t.memory_budget = memory_.budget();
  return t;
}

}  // namespace hermod::broker
