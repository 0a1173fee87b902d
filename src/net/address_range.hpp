// An IPv4 or IPv6 address range in CIDR form ("10.0.0.0/8", "::1", "2001:db8::/32"): for the
// trusted proxies of a listener (X-Forwarded-For, PROXY protocol) and, later, address limits.
// An IPv4 range also holds the IPv4-mapped IPv6 addresses of its members (::ffff:10.1.2.3), as a
// dual-stack socket reports them. Threads: an immutable value.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/address.hpp>

namespace hermod::net {

class AddressRange {
 public:
  // "ADDRESS" (a single host) or "ADDRESS/PREFIX"; nullopt if it is not one (a prefix over the
  // address's length, bits set past the prefix, a name instead of an address).
  static std::optional<AddressRange> parse(std::string_view text);

  bool contains(const boost::asio::ip::address& a) const;
  std::string to_string() const;

 private:
  boost::asio::ip::address network_;
  unsigned prefix_ = 0;
};

// Whether any of `ranges` holds `a`.
bool contains_any(const std::vector<AddressRange>& ranges, const boost::asio::ip::address& a);

}  // namespace hermod::net
