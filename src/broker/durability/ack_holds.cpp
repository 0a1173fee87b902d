#include "broker/durability/ack_holds.hpp"

namespace hermod::broker {

AckHolds::AckHolds(boost::asio::io_context& io, const Clock& clock, SessionRegistry& sessions, SessionWriter& writer)
    : clock_(clock), sessions_(sessions), writer_(writer), timer_(io) {}

void AckHolds::hold(Session& s, mqtt::PacketId id, InflightMessage& m, PublishGate& publish) {
  if (!publish.gate) {
    publish.gate = std::make_shared<AckGate>();
    publish.gate->publisher = publish.publisher;
  }
  m.gate = GateHold(publish.gate);
  held_.push_back(Held{clock_.now() + wait_, s.uid(), m.sequence, id});
  if (!timer_armed_) arm_timer();
}

void AckHolds::arm_timer() {
  timer_armed_ = true;
  // Relative to the injected clock, so a test clock and the real timer agree on the wait.
  const auto left = held_.front().due - clock_.now();
  timer_.expires_after(left.count() > 0 ? left : Clock::duration::zero());
  timer_.async_wait([this](const boost::system::error_code& ec) {
    timer_armed_ = false;
    if (ec || stopped_) return;
    store_overdue(clock_.now());
    if (!held_.empty()) arm_timer();
  });
}

void AckHolds::store_overdue(Clock::time_point now) {
  while (!held_.empty() && held_.front().due <= now) {
    const Held h = held_.front();
    held_.pop_front();
    Session* s = sessions_.by_uid(h.session);
    InflightMessage* m = s ? s->inflight().find(h.id) : nullptr;
    if (!m || m->sequence != h.sequence || !m->gate) continue;
    if (!s->stored()) {
      m->gate.reset();  // resumed without expiry since: nothing of it is kept
      continue;
    }
    // Not acknowledged in time (or the subscriber went away): written like any delivery; the
    // publisher's acknowledgement goes once this turn is committed.
    writer_.store_inflight(*s, h.id, *m);
    committing_.push_back(m->gate.take());
  }
}

void AckHolds::open_committed() {
  if (committing_.empty()) return;
  auto gates = std::move(committing_);
  committing_.clear();
  for (auto& g : gates) open_gate(*g);
}

std::vector<std::shared_ptr<AckGate>> AckHolds::take_committing() {
  auto gates = std::move(committing_);
  committing_.clear();
  return gates;
}

void AckHolds::stop() {
  stopped_ = true;
  timer_.cancel();
}

}  // namespace hermod::broker
