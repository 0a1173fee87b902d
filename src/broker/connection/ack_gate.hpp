// Acknowledgement on delivery. A QoS 1 message that goes in flight at once to an online
// persistent subscriber on the publisher's own worker is not written to the store right away:
// the publisher's PUBACK waits instead, behind an AckGate, until either that subscriber has
// acknowledged the message (it is delivered: nothing is left to lose) or the message has been
// written and committed (after `store.ack_on_delivery_ms`, or when anything else happens to it).
// Either way nothing is acknowledged that a crash could still take, and a subscriber that keeps
// up costs no store write at all. See docs/durability.md. Worker thread only.
#pragma once

#include <cstdint>
#include <memory>

namespace hermod::broker {

class Link;

// The deliveries one PUBLISH's acknowledgement waits for.
struct AckGate {
  std::uint32_t pending = 0;
  Link* publisher = nullptr;  // cleared when the publisher's link closes
};

// One hold on the gate is gone; with none left, the publisher's held acknowledgements go out.
void open_gate(AckGate& gate);

// A delivery's hold on its publisher's acknowledgement. Dropping the delivery (acknowledged,
// or its session ended) opens the hold; take() hands it on to be opened after a store commit.
class GateHold {
 public:
  GateHold() = default;
  explicit GateHold(std::shared_ptr<AckGate> gate) : gate_(std::move(gate)) { ++gate_->pending; }
  GateHold(GateHold&&) noexcept = default;
  GateHold& operator=(GateHold&& other) noexcept {
    if (this != &other) {
      reset();
      gate_ = std::move(other.gate_);
    }
    return *this;
  }
  ~GateHold() { reset(); }

  explicit operator bool() const { return gate_ != nullptr; }
  std::shared_ptr<AckGate> take() { return std::move(gate_); }
  void reset() {
    if (auto gate = std::move(gate_)) open_gate(*gate);
  }

 private:
  std::shared_ptr<AckGate> gate_;
};

}  // namespace hermod::broker
