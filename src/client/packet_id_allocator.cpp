#include "client/packet_id_allocator.hpp"

namespace hermod::client {

std::optional<mqtt::PacketId> PacketIdAllocator::allocate() {
  if (count_ >= 65535) return std::nullopt;
  mqtt::PacketId id = last_;
  do {
    id = static_cast<mqtt::PacketId>(id == 65535 ? 1 : id + 1);
  } while (used_[id]);
  used_[id] = true;
  ++count_;
  last_ = id;
  return id;
}

bool PacketIdAllocator::reserve(mqtt::PacketId id) {
  if (id == 0 || used_[id]) return false;
  used_[id] = true;
  ++count_;
  return true;
}

void PacketIdAllocator::release(mqtt::PacketId id) {
  if (id == 0 || !used_[id]) return;
  used_[id] = false;
  --count_;
}

void PacketIdAllocator::clear() {
  used_.assign(65536, false);
  count_ = 0;
}

}  // namespace hermod::client
