// The unit per-address limits count in: a source address cut to a prefix (limits.address_prefix_v4,
// limits.address_prefix_v6), so that a client holding a whole block (an IPv6 /64 is what one
// customer usually gets) counts as one address. IPv4-mapped IPv6 addresses (a dual-stack socket's
// ::ffff:10.1.2.3) are grouped as the IPv4 addresses they are.
// Threads: an immutable value; hashable, comparable.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include <boost/asio/ip/address.hpp>

namespace hermod::broker {

class AddressGroup {
 public:
  AddressGroup() = default;
  // `address` with the bits past its family's prefix cleared (prefixes are capped at 32 and 128).
  AddressGroup(const boost::asio::ip::address& address, unsigned prefix_v4, unsigned prefix_v6);

  // "127.0.0.2/32", "2001:db8:1:2::/64".
  std::string to_string() const;
  bool v4() const { return v4_; }
  bool operator==(const AddressGroup& o) const = default;
  std::size_t hash() const;

 private:
  std::array<std::uint8_t, 16> bytes_{};  // IPv4: the first 4
  std::uint8_t prefix_ = 0;
  bool v4_ = true;
};

struct AddressGroupHash {
  std::size_t operator()(const AddressGroup& g) const { return g.hash(); }
};

}  // namespace hermod::broker
