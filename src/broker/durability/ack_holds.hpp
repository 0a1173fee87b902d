// Acknowledgement on delivery (connection/ack_gate.hpp, docs/durability.md): a QoS 1 delivery
// sent at once to an online persistent subscriber on the publisher's worker is not written; it
// holds the publisher's acknowledgement instead, for at most `store.ack_on_delivery_ms`. AckHolds
// keeps those holds in due order and writes the ones whose wait ran out; their gates open once
// that write is committed (open_committed(), called by the worker after each commit).
// Worker thread only.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "base/clock.hpp"
#include "broker/connection/ack_gate.hpp"
#include "broker/durability/session_writer.hpp"
#include "broker/session/session_registry.hpp"

namespace hermod::broker {

class Link;

// The acknowledgement gate one PUBLISH's deliveries may hold, built while it is routed:
// created by the first delivery that holds it. Passed explicitly down the publish path.
struct PublishGate {
  Link* publisher = nullptr;
  std::shared_ptr<AckGate> gate;
};

class AckHolds {
 public:
  AckHolds(boost::asio::io_context& io, const Clock& clock, SessionRegistry& sessions, SessionWriter& writer);
  AckHolds(const AckHolds&) = delete;
  AckHolds& operator=(const AckHolds&) = delete;

  // How long a delivery may hold its publisher's acknowledgement; zero turns holding off.
  void set_wait(Clock::duration wait) { wait_ = wait; }
  bool enabled() const { return wait_.count() > 0; }

  // Makes the in-flight entry `m` (packet id `id` of `s`) hold `publish`'s acknowledgement.
  void hold(Session& s, mqtt::PacketId id, InflightMessage& m, PublishGate& publish);
  // Writes the held deliveries whose wait is over at `now` (all of them with time_point::max()).
  void store_overdue(Clock::time_point now);
  // After a successful commit: opens the gates whose deliveries that commit wrote.
  void open_committed();
  // After a failed commit: the gates whose writes were lost (their publishers must be closed).
  std::vector<std::shared_ptr<AckGate>> take_committing();
  // Shutdown: cancels the timer.
  void stop();

 private:
  struct Held {
    Clock::time_point due;
    std::uint64_t session;
    std::uint64_t sequence;  // tells a reused packet id from the one held
    mqtt::PacketId id;
  };
  void arm_timer();

  const Clock& clock_;
  SessionRegistry& sessions_;
  SessionWriter& writer_;
  Clock::duration wait_{0};
  std::deque<Held> held_;  // in due order; entries acknowledged since stay until due
  std::vector<std::shared_ptr<AckGate>> committing_;  // open once this turn is committed
  boost::asio::steady_timer timer_;
  bool timer_armed_ = false;
  bool stopped_ = false;
};

}  // namespace hermod::broker
