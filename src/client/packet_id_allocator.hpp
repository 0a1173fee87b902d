// Packet identifiers for QoS 1/2 PUBLISH, SUBSCRIBE and UNSUBSCRIBE: non-zero, and unique among
// the packets still awaiting their acknowledgement [MQTT-2.2.1-3]. Allocation walks forward from
// the last id handed out, so a just-released id is not reused at once (a late duplicate ack for
// it would otherwise hit the wrong message). Owner thread only; value type.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "mqtt/packet.hpp"

namespace hermod::client {

class PacketIdAllocator {
 public:
  PacketIdAllocator() : used_(65536, false) {}

  // The next free id after the last one allocated, or nullopt when all 65535 are in use.
  std::optional<mqtt::PacketId> allocate();
  // Marks `id` used (e.g. restored state). Returns false if it was already in use or is 0.
  bool reserve(mqtt::PacketId id);
  // Frees `id`; freeing an unused id does nothing.
  void release(mqtt::PacketId id);
  bool in_use(mqtt::PacketId id) const { return id != 0 && used_[id]; }
  std::size_t in_use_count() const { return count_; }
  void clear();

 private:
  std::vector<bool> used_;
  mqtt::PacketId last_ = 0;
  std::size_t count_ = 0;
};

}  // namespace hermod::client
