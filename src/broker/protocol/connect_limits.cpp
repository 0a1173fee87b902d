// The limits a CONNECT meets beside authentication (docs/security.md): the per-address limits
// again for the real client behind a PROXY protocol listener, the flapping ban of a client id,
// and the growing delay after failed logins from an address. Each refusal is counted in the
// worker's statistics and logged through a RateLimitedLog (one line per interval, never one per
// attempt). Worker thread only; the waits are timers, never a blocked worker.
#include <boost/asio/steady_timer.hpp>

#include "base/log.hpp"
#include "broker/protocol/connection.hpp"

namespace hermod::broker {

using namespace mqtt;

bool Connection::admit_proxied_client() {
  const auto& address = remote_endpoint().address();
  const auto& policy = ctx().policy();
  const ListenerConfig& rules = policy.listener(listener_->index);
  auto& stats = context_.stats;
  auto& logs = ctx().services.refusals;
  AdmissionRefusal why = address_refusal(rules, address);
  AddressGroup group(address, 32, 128);
  if (why == AdmissionRefusal::none) {
    why = ctx().services.admission.add_address(slot_, address, AdmissionRules::of(rules, policy.limits()), &group);
  }
  if (why == AdmissionRefusal::none) return true;
  switch (why) {
    case AdmissionRefusal::address_full: stats.connections_refused_address_full.add(); break;
    case AdmissionRefusal::connect_rate: stats.connections_refused_connect_rate.add(); break;
    default: stats.connections_refused_denied.add(); break;
  }
  logs.of(why).note(group.to_string() + " via PROXY protocol");
  // As if refused at accept: no MQTT answer, closed at once.
  close(CloseReason::address_refused);
  return false;
}

bool Connection::flap_check(const std::string& client_id) {
  const auto verdict = ctx().flaps.check(client_id, FlapRules::of(ctx().policy().limits()));
  if (verdict == FlapGuard::Verdict::allowed) return true;
  if (verdict == FlapGuard::Verdict::ban_started) {
    context_.stats.flapping_bans.add();
    // Debug: many client ids could each start one; the RateLimitedLog below names them.
    logger("limits")->debug("client id \"{}\" banned for {} s: it connected {} times within {} s (limits.flapping_*)",
                           client_id, ctx().policy().limits().flapping_ban, ctx().policy().limits().flapping_connects,
                           ctx().policy().limits().flapping_window);
  }
  context_.stats.connects_banned.add();
  ctx().services.refusals.banned.note("\"" + client_id + "\"");
  // 3.1.1 has no Banned: to_v3_connack_code makes it 5, not authorized.
  refuse_connect(ReasonCode::banned, "flapping", {}, true);
  return false;
}

AddressGroup Connection::login_group() const {
  const auto& limits = ctx().policy().limits();
  return AddressGroup(remote_endpoint().address(), limits.address_prefix_v4, limits.address_prefix_v6);
}

template <typename F>
void Connection::after_login_delay(Clock::duration delay, F&& f) {
  // Like a password check in progress: nothing more is read or decoded until it is over.
  state_ = State::checking;
  login_hold_ = true;
  pause_reading(pause_check);
  if (!login_timer_) login_timer_ = std::make_unique<boost::asio::steady_timer>(ctx().io);
  login_timer_->expires_after(delay);
  login_timer_->async_wait([weak = std::weak_ptr<Connection>(self()), f = std::forward<F>(f)](
                               const boost::system::error_code& ec) mutable {
    if (ec) return;
    auto conn = weak.lock();
    if (!conn || conn->state_ != State::checking || !conn->login_hold_) return;  // closed meanwhile
    conn->login_hold_ = false;
    conn->state_ = State::awaiting_connect;
    conn->guarded([&] { f(*conn); });
  });
}

bool Connection::login_wait(Connect& c) {
  if (login_waited_) return false;
  login_waited_ = true;  // once per CONNECT, however many failures happen meanwhile
  const bool credentials = c.username || c.password || (is_v5(version()) && c.props.authentication_method);
  if (!credentials) return false;
  if (listener_ && listener_->identity_as_username != CertificateIdentity::off && peer_identity()) {
    return false;  // the certificate decides, not a password
  }
  const auto wait = ctx().services.logins.wait_before_check(login_group(), LoginDelayRules::of(ctx().policy().limits()));
  if (wait <= Clock::duration::zero()) return false;
  parked_ = std::make_unique<Parked>(Parked{std::move(c)});
  after_login_delay(wait, [](Connection& conn) {
    auto parked = std::move(conn.parked_);
    conn.authenticate(std::move(parked->connect));
    // Unless a password check took over (it resumes reading when done): what the client sent
    // after its CONNECT, then reading again.
    if (conn.closed() || conn.state_ == State::checking) return;
    conn.process({});
    if (!conn.closed()) conn.resume_reading(pause_check);
  });
  return true;
}

void Connection::login_failed(ReasonCode reason, std::string why, Properties props) {
  context_.stats.logins_failed.add();
  const auto group = login_group();
  const auto hold = ctx().services.logins.failed(group, LoginDelayRules::of(ctx().policy().limits()));
  if (hold <= Clock::duration::zero()) return refuse_connect(reason, why, std::move(props));
  context_.stats.logins_delayed.add();
  ctx().services.refusals.login_failures.note(group.to_string());
  after_login_delay(hold, [reason, why = std::move(why), props = std::move(props)](Connection& conn) mutable {
    conn.refuse_connect(reason, why, std::move(props), true);
  });
}

void Connection::login_succeeded(const Connect& c) {
  if (!c.username && !c.password && !c.props.authentication_method) return;
  context_.stats.logins_succeeded.add();
  ctx().services.logins.succeeded(login_group());
}

}  // namespace hermod::broker
