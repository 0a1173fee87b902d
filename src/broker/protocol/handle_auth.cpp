// Authentication of a CONNECT and the AUTH packet: the User Name and Password against the
// password file, or an MQTT 5 enhanced authentication exchange (section 4.12) that must succeed
// before the session is set up, and re-authentication of a connected client (4.12.1).
// Worker thread only: authenticate() runs on the client id's home worker, after the hand-off, so
// the exchange, the CONNECT it holds and the session set-up after it all stay on one thread. A
// plain password's PBKDF2 check alone runs on the CheckPool; its verdict is posted back here.
#include <boost/asio/post.hpp>

#include "base/log.hpp"
#include "broker/auth/authenticator.hpp"
#include "broker/protocol/connection.hpp"
#include "broker/protocol/connection_auth.hpp"

namespace hermod::broker {

using namespace mqtt;

namespace {
Properties auth_properties(const auth::AuthMethod& method, std::string data) {
  Properties p;
  p.authentication_method = std::string(method.name());
  if (!data.empty()) p.authentication_data = std::move(data);
  return p;
}
}  // namespace

void Connection::authenticate(Connect&& c) {
  if (login_wait(c)) return;  // failed logins from this address: checked after the delay
  if (is_v5(version()) && c.props.authentication_method) return start_enhanced_auth(std::move(c));
  if (c.props.authentication_data) {
    // 3.1.2.11.10: Authentication Data without an Authentication Method is a protocol error.
    return refuse_connect(ReasonCode::protocol_error, "authentication data without authentication method");
  }
  if (authenticate_by_certificate(c)) return;
  const auto& authenticator = ctx().services.auth;
  if (!authenticator.check_is_slow(c.username, c.password)) {
    const auto verdict = authenticator.check(c.username, c.password);
    return password_checked(verdict, std::move(c));
  }
  // PBKDF2 takes milliseconds: off this thread, with reading paused until the verdict (the
  // bytes after the CONNECT wait in inbuf_, see process()).
  state_ = State::checking;
  pause_reading(pause_check);
  std::weak_ptr<Connection> weak = self();
  auto& io = ctx().io;
  ctx().services.checks.submit([&authenticator, &io, weak, user = c.username, password = c.password] {
    const auto verdict = authenticator.check(user, password);
    boost::asio::post(io, [weak, verdict] {
      auto conn = weak.lock();
      if (!conn || conn->state_ != State::checking) return;  // closed (timeout, shutdown) meanwhile
      conn->guarded([&] {
        auto parked = std::move(conn->parked_);
        conn->password_checked(verdict, std::move(parked->connect));
        // Closed, or a failure's answer held for the login delay (reading stays paused).
        if (conn->closed() || conn->state_ == State::checking) return;
        conn->process({});  // what the client sent after its CONNECT
        if (!conn->closed()) conn->resume_reading(pause_check);
      });
    });
  });
  parked_ = std::make_unique<Parked>(Parked{std::move(c)});
}

bool Connection::authenticate_by_certificate(Connect& c) {
  if (!listener_ || listener_->identity_as_username == CertificateIdentity::off) return false;
  const auto id = peer_identity();
  if (!id) return false;  // no verified certificate (client_certificates = "optional"): as any client
  const std::string& name =
      listener_->identity_as_username == CertificateIdentity::common_name ? id->common_name : id->subject;
  if (name.empty()) {
    context_.stats.logins_failed.add();
    refuse_connect(ReasonCode::not_authorized, "the client certificate has no " +
                                                   std::string(listener_->identity_as_username ==
                                                                       CertificateIdentity::common_name
                                                                   ? "common name"
                                                                   : "subject"));
    return true;
  }
  // The certificate proved who the client is: what it sent as user name and password is not asked.
  c.username = name;
  c.password.reset();
  user_from_certificate_ = true;
  context_.stats.logins_succeeded.add();
  accept_connect(std::move(c));
  return true;
}

void Connection::password_checked(auth::PasswordCheck verdict, Connect&& c) {
  if (state_ == State::checking) state_ = State::awaiting_connect;
  switch (verdict) {
    case auth::PasswordCheck::accepted:
      login_succeeded(c);
      return accept_connect(std::move(c));
    case auth::PasswordCheck::anonymous:
      return accept_connect(std::move(c));
    case auth::PasswordCheck::bad_credentials:
      // The user name is the client's claim, worth logging; the password never is.
      return login_failed(ReasonCode::bad_user_name_or_password,
                          c.username ? "wrong password or unknown user \"" + *c.username + "\""
                                     : std::string("password without user name"));
    case auth::PasswordCheck::anonymous_denied:
      context_.stats.logins_failed.add();
      return refuse_connect(ReasonCode::not_authorized, "no user name, anonymous clients not allowed");
  }
}

void Connection::start_enhanced_auth(Connect&& c) {
  const auto& authenticator = ctx().services.auth;
  const auth::AuthMethod* method = authenticator.method(*c.props.authentication_method);
  if (!method) {
    // [MQTT-4.12.0-1]
    return refuse_connect(ReasonCode::bad_authentication_method,
                          "authentication method \"" + *c.props.authentication_method + "\" not offered");
  }
  auth_ = std::make_unique<ConnectionAuth>();
  auth_->method = method;
  auth_->exchange = method->start(authenticator.passwords());
  const std::string data = c.props.authentication_data.value_or(std::string());
  auth_->connect = std::make_unique<Connect>(std::move(c));
  state_ = State::authenticating;
  auth_step(data);
}

void Connection::handle_auth(Auth&& a) {
  if (!auth_) {
    // [MQTT-4.12.0-7]: no Authentication Method in CONNECT, no AUTH.
    return fail({ReasonCode::protocol_error, "AUTH without an authentication method in CONNECT"});
  }
  if (a.props.authentication_method != auth_->method->name()) {
    // [MQTT-4.12.0-5] [MQTT-4.12.1-1]: every AUTH names the CONNECT's method.
    return fail({ReasonCode::protocol_error, "AUTH with another authentication method than CONNECT's"});
  }
  const std::string data = a.props.authentication_data.value_or(std::string());
  if (a.reason == ReasonCode::continue_authentication && auth_->exchange) return auth_step(data);  // [MQTT-4.12.0-3]
  if (a.reason == ReasonCode::re_authenticate && state_ == State::connected && !auth_->exchange) {
    // [MQTT-4.12.1-1]: a new exchange while the client goes on sending other packets.
    auth_->exchange = auth_->method->start(ctx().services.auth.passwords());
    return auth_step(data);
  }
  fail({ReasonCode::protocol_error, "AUTH with reason " + std::string(to_string(a.reason)) + " out of turn"});
}

void Connection::auth_step(std::string_view client_data) {
  auto step = auth_->exchange->step(client_data);
  switch (step.outcome) {
    case auth::AuthStep::Outcome::continue_auth:
      // [MQTT-4.12.0-2]
      (void)send(Auth{ReasonCode::continue_authentication, auth_properties(*auth_->method, std::move(step.data))});
      return;
    case auth::AuthStep::Outcome::success:
      auth_->exchange.reset();
      return auth_succeeded(std::move(step));
    case auth::AuthStep::Outcome::failure:
      auth_->exchange.reset();
      return auth_failed(std::move(step));
  }
}

void Connection::auth_succeeded(auth::AuthStep&& step) {
  if (state_ == State::authenticating) {
    auth_->user = std::move(step.detail);
    const auto c = std::move(auth_->connect);
    login_succeeded(*c);
    // connack_properties() echoes the method and sends this in place of the client's data.
    if (step.data.empty()) {
      c->props.authentication_data.reset();
    } else {
      c->props.authentication_data = std::move(step.data);
    }
    return accept_connect(std::move(*c));
  }
  const std::string client_id = session_ ? session_->client_id() : std::string();
  if (step.detail != auth_->user) {
    logger("auth")->info("{} {}: re-authenticated as \"{}\", not \"{}\"", remote(), client_id, step.detail, auth_->user);
    return close(CloseReason::auth_failed, ReasonCode::not_authorized);
  }
  send(Auth{ReasonCode::success, auth_properties(*auth_->method, std::move(step.data))});
  logger("auth")->info("{} {}: re-authenticated as \"{}\" by {}", remote(), client_id, auth_->user,
                       auth_->method->name());
}

void Connection::auth_failed(auth::AuthStep&& step) {
  if (state_ == State::authenticating) {
    // [MQTT-4.12.0-4]
    return login_failed(ReasonCode::not_authorized, std::move(step.detail),
                        auth_properties(*auth_->method, std::move(step.data)));
  }
  // [MQTT-4.12.1-2]: DISCONNECT 0x87, then close.
  logger("auth")->info("{} {}: re-authentication failed: {}", remote(), session_ ? session_->client_id() : "",
                       step.detail);
  close(CloseReason::auth_failed, ReasonCode::not_authorized);
}

}  // namespace hermod::broker
