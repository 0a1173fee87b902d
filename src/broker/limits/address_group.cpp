#include "broker/limits/address_group.hpp"

#include <algorithm>
#include <string_view>

namespace hermod::broker {

namespace ip = boost::asio::ip;

AddressGroup::AddressGroup(const ip::address& address, unsigned prefix_v4, unsigned prefix_v6) {
  ip::address a = address;
  if (a.is_v6() && a.to_v6().is_v4_mapped()) a = ip::make_address_v4(ip::v4_mapped, a.to_v6());
  v4_ = a.is_v4();
  const unsigned width = v4_ ? 32 : 128;
  const unsigned prefix = std::min(v4_ ? prefix_v4 : prefix_v6, width);
  prefix_ = static_cast<std::uint8_t>(prefix);
  if (v4_) {
    const auto b = a.to_v4().to_bytes();
    std::copy(b.begin(), b.end(), bytes_.begin());
  } else {
    const auto b = a.to_v6().to_bytes();
    std::copy(b.begin(), b.end(), bytes_.begin());
  }
  for (unsigned bit = prefix; bit < width; ++bit) {
    bytes_[bit / 8] = static_cast<std::uint8_t>(bytes_[bit / 8] & ~(0x80u >> (bit % 8)));
  }
}

std::string AddressGroup::to_string() const {
  std::string s;
  if (v4_) {
    ip::address_v4::bytes_type b;
    std::copy_n(bytes_.begin(), 4, b.begin());
    s = ip::address_v4(b).to_string();
  } else {
    ip::address_v6::bytes_type b;
    std::copy(bytes_.begin(), bytes_.end(), b.begin());
    s = ip::address_v6(b).to_string();
  }
  return s + "/" + std::to_string(prefix_);
}

std::size_t AddressGroup::hash() const {
  // FNV-1a over the bytes that matter.
  std::size_t h = 1469598103934665603ull;
  const std::size_t n = v4_ ? 4 : 16;
  for (std::size_t i = 0; i < n; ++i) h = (h ^ bytes_[i]) * 1099511628211ull;
  return (h ^ prefix_) * 1099511628211ull + (v4_ ? 1 : 0);
}

}  // namespace hermod::broker
