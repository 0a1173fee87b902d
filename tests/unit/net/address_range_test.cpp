// Address ranges in CIDR form, IPv4 and IPv6, with IPv4-mapped IPv6 addresses as members of
// their IPv4 ranges.
#include "net/address_range.hpp"

#include <gtest/gtest.h>

namespace hermod::net {
namespace {

bool in(const char* range, const char* address) {
  const auto r = AddressRange::parse(range);
  EXPECT_TRUE(r) << range;
  return r && r->contains(boost::asio::ip::make_address(address));
}

TEST(AddressRange, HoldsWhatItsPrefixCovers) {
  EXPECT_TRUE(in("10.0.0.0/8", "10.255.1.2"));
  EXPECT_FALSE(in("10.0.0.0/8", "11.0.0.1"));
  EXPECT_TRUE(in("192.168.4.0/22", "192.168.7.255"));
  EXPECT_FALSE(in("192.168.4.0/22", "192.168.8.0"));
  EXPECT_TRUE(in("127.0.0.1", "127.0.0.1"));
  EXPECT_FALSE(in("127.0.0.1", "127.0.0.2"));
  EXPECT_TRUE(in("0.0.0.0/0", "8.8.8.8"));
  EXPECT_TRUE(in("2001:db8::/32", "2001:db8:ffff::1"));
  EXPECT_FALSE(in("2001:db8::/32", "2001:db9::1"));
  EXPECT_TRUE(in("::1", "::1"));
}

TEST(AddressRange, Ipv4MappedAddressesBelongToIpv4Ranges) {
  EXPECT_TRUE(in("10.0.0.0/8", "::ffff:10.1.2.3"));
  EXPECT_FALSE(in("10.0.0.0/8", "::1"));
  EXPECT_FALSE(in("::/0", "10.1.2.3"));
}

TEST(AddressRange, RefusesWhatIsNotARange) {
  for (const char* bad : {"", "localhost", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/x", "10.1.0.0/8", "::1/129", "1.2.3"}) {
    EXPECT_FALSE(AddressRange::parse(bad)) << bad;
  }
  EXPECT_EQ(AddressRange::parse("10.0.0.0/8")->to_string(), "10.0.0.0/8");
}

}  // namespace
}  // namespace hermod::net
