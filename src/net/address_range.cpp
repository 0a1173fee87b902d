#include "net/address_range.hpp"

#include <charconv>

namespace hermod::net {

namespace ip = boost::asio::ip;

namespace {

// Whether the first `bits` bits of two equally long byte arrays agree.
template <typename Bytes>
bool same_prefix(const Bytes& a, const Bytes& b, unsigned bits) {
  for (std::size_t i = 0; i < a.size() && bits > 0; ++i) {
    const unsigned n = bits >= 8 ? 8 : bits;
    const auto mask = static_cast<unsigned char>(0xFF << (8 - n));
    if ((a[i] & mask) != (b[i] & mask)) return false;
    bits -= n;
  }
  return true;
}

ip::address unmapped(const ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) return ip::make_address_v4(ip::v4_mapped, a.to_v6());
  return a;
}

}  // namespace

std::optional<AddressRange> AddressRange::parse(std::string_view text) {
  const auto slash = text.find('/');
  boost::system::error_code ec;
  const auto address = ip::make_address(std::string(text.substr(0, slash)), ec);
  if (ec) return std::nullopt;
  AddressRange r;
  r.network_ = unmapped(address);
  const unsigned width = r.network_.is_v4() ? 32 : 128;
  r.prefix_ = width;
  if (slash != std::string_view::npos) {
    const auto digits = text.substr(slash + 1);
    const auto [end, err] = std::from_chars(digits.data(), digits.data() + digits.size(), r.prefix_);
    if (err != std::errc() || end != digits.data() + digits.size() || digits.empty() || r.prefix_ > width) {
      return std::nullopt;
    }
  }
  // Bits past the prefix must be zero: "10.1.0.0/8" is more likely a typo than a wish.
  const auto zero_from = [&](const auto& bytes) {
    for (unsigned bit = r.prefix_; bit < width; ++bit) {
      if (bytes[bit / 8] & (0x80 >> (bit % 8))) return false;
    }
    return true;
  };
  const bool clean = r.network_.is_v4() ? zero_from(r.network_.to_v4().to_bytes()) : zero_from(r.network_.to_v6().to_bytes());
  if (!clean) return std::nullopt;
  return r;
}

bool AddressRange::contains(const ip::address& address) const {
  const auto a = unmapped(address);
  if (a.is_v4() != network_.is_v4()) return false;
  if (a.is_v4()) return same_prefix(a.to_v4().to_bytes(), network_.to_v4().to_bytes(), prefix_);
  return same_prefix(a.to_v6().to_bytes(), network_.to_v6().to_bytes(), prefix_);
}

std::string AddressRange::to_string() const {
  return network_.to_string() + "/" + std::to_string(prefix_);
}

bool contains_any(const std::vector<AddressRange>& ranges, const ip::address& a) {
  for (const auto& r : ranges) {
    if (r.contains(a)) return true;
  }
  return false;
}

}  // namespace hermod::net
