// The limits per address and per client id, on their own with a manual clock: the admission
// table (listener and address counts, connect rate, entries forgotten), address groups, the
// login delay, the flapping ban, and the rate-limited log they report through.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/clock.hpp"
#include "base/rate_limited_log.hpp"
#include "broker/limits/address_group.hpp"
#include "broker/limits/admission_table.hpp"
#include "broker/limits/flap_guard.hpp"
#include "broker/limits/login_throttle.hpp"

namespace hermod::broker {
namespace {

using namespace std::chrono_literals;
namespace ip = boost::asio::ip;

ip::address addr(const char* text) { return ip::make_address(text); }

AdmissionRules rules(std::uint32_t per_address, std::uint32_t rate = 0, std::uint32_t listener = 0) {
  AdmissionRules r;
  r.per_address_max = per_address;
  r.connect_rate = rate;
  r.listener_max = listener;
  return r;
}

TEST(AddressGroup, CutsToThePrefixOfItsFamily) {
  EXPECT_EQ(AddressGroup(addr("10.1.2.3"), 24, 64).to_string(), "10.1.2.0/24");
  EXPECT_EQ(AddressGroup(addr("10.1.2.3"), 32, 64).to_string(), "10.1.2.3/32");
  EXPECT_EQ(AddressGroup(addr("2001:db8:1:2:3:4:5:6"), 24, 64).to_string(), "2001:db8:1:2::/64");
  EXPECT_EQ(AddressGroup(addr("2001:db8:1:2:3:4:5:6"), 24, 56), AddressGroup(addr("2001:db8:1:ff::1"), 24, 56));
  EXPECT_NE(AddressGroup(addr("10.1.2.3"), 32, 64), AddressGroup(addr("10.1.2.4"), 32, 64));
}

TEST(AddressGroup, MappedIpv4IsTheIpv4Address) {
  EXPECT_EQ(AddressGroup(addr("::ffff:127.0.0.2"), 32, 64), AddressGroup(addr("127.0.0.2"), 32, 64));
  EXPECT_TRUE(AddressGroup(addr("::ffff:127.0.0.2"), 32, 64).v4());
}

TEST(AdmissionTable, RefusesTheConnectionPastMaxConnectionsPerAddress) {
  ManualClock clock;
  AdmissionTable table(clock, 1);
  const auto a = addr("127.0.0.2");
  auto first = table.admit(0, &a, rules(2));
  auto second = table.admit(0, &a, rules(2));
  auto third = table.admit(0, &a, rules(2));
  EXPECT_EQ(first.refusal, AdmissionRefusal::none);
  EXPECT_EQ(second.refusal, AdmissionRefusal::none);
  EXPECT_EQ(third.refusal, AdmissionRefusal::address_full) << "the third of an address with max 2";
  const auto other = addr("127.0.0.3");
  EXPECT_EQ(table.admit(0, &other, rules(2)).refusal, AdmissionRefusal::none) << "another address has its own count";
  EXPECT_EQ(table.group_count(AddressGroup(a, 32, 64)), 2u);
  first.slot.release();
  EXPECT_EQ(table.admit(0, &a, rules(2)).refusal, AdmissionRefusal::none) << "a released slot makes room";
}

TEST(AdmissionTable, APrefixCountsABlockAsOneAddress) {
  ManualClock clock;
  AdmissionTable table(clock, 1);
  auto r = rules(1);
  r.prefix_v4 = 24;
  const auto a = addr("127.0.0.2");
  const auto b = addr("127.0.0.3");
  auto first = table.admit(0, &a, r);
  EXPECT_EQ(first.refusal, AdmissionRefusal::none);
  EXPECT_EQ(table.admit(0, &b, r).refusal, AdmissionRefusal::address_full) << "127.0.0.3 is in 127.0.0.0/24 too";
  EXPECT_EQ(first.group.to_string(), "127.0.0.0/24");
}

TEST(AdmissionTable, RefusesPastTheListenersMaxConnections) {
  ManualClock clock;
  AdmissionTable table(clock, 2);
  const auto a = addr("127.0.0.2");
  const auto b = addr("127.0.0.3");
  auto one = table.admit(0, &a, rules(0, 0, 1));
  EXPECT_EQ(one.refusal, AdmissionRefusal::none);
  EXPECT_EQ(table.admit(0, &b, rules(0, 0, 1)).refusal, AdmissionRefusal::listener_full);
  EXPECT_EQ(table.group_count(AddressGroup(b, 32, 64)), 0u) << "a refused connection is not counted";
  auto two = table.admit(1, &b, rules(0, 0, 1));
  EXPECT_EQ(two.refusal, AdmissionRefusal::none) << "listener 1 counts on its own";
  EXPECT_EQ(table.listener_count(0), 1u);
  EXPECT_EQ(table.listener_count(1), 1u);
  EXPECT_EQ(table.group_count(AddressGroup(b, 32, 64)), 1u);
}

TEST(AdmissionTable, ConnectRateAllowsOneSecondsBurstThenRefills) {
  ManualClock clock;
  AdmissionTable table(clock, 1);
  const auto a = addr("127.0.0.2");
  std::vector<AdmissionTable::Slot> held;
  for (int i = 0; i < 3; ++i) {
    auto v = table.admit(0, &a, rules(0, 3));
    ASSERT_EQ(v.refusal, AdmissionRefusal::none) << "connection " << i << " of a burst of 3";
    held.push_back(std::move(v.slot));
  }
  EXPECT_EQ(table.admit(0, &a, rules(0, 3)).refusal, AdmissionRefusal::connect_rate) << "the 4th within the second";
  clock.advance(300ms);
  EXPECT_EQ(table.admit(0, &a, rules(0, 3)).refusal, AdmissionRefusal::connect_rate) << "0.9 tokens after 0.3 s";
  clock.advance(40ms);
  EXPECT_EQ(table.admit(0, &a, rules(0, 3)).refusal, AdmissionRefusal::none) << "1.02 tokens after 0.34 s";
}

TEST(AdmissionTable, ConnectRateRefillsAtItsRate) {
  ManualClock clock;
  AdmissionTable table(clock, 1);
  const auto a = addr("127.0.0.2");
  for (int i = 0; i < 2; ++i) ASSERT_EQ(table.admit(0, &a, rules(0, 2)).refusal, AdmissionRefusal::none);
  EXPECT_EQ(table.admit(0, &a, rules(0, 2)).refusal, AdmissionRefusal::connect_rate);
  clock.advance(500ms);  // one token at 2 per second
  EXPECT_EQ(table.admit(0, &a, rules(0, 2)).refusal, AdmissionRefusal::none);
  EXPECT_EQ(table.admit(0, &a, rules(0, 2)).refusal, AdmissionRefusal::connect_rate);
}

TEST(AdmissionTable, ForgetsAGroupOnceNothingCountsAndItsBucketIsFull) {
  ManualClock clock;
  AdmissionTable table(clock, 1);
  const auto a = addr("127.0.0.2");
  {
    auto v = table.admit(0, &a, rules(5));
    EXPECT_EQ(table.entries(), 1u);
  }
  EXPECT_EQ(table.entries(), 0u) << "no connect rate: forgotten at its last release";
  {
    auto v = table.admit(0, &a, rules(5, 10));
  }
  EXPECT_EQ(table.entries(), 1u) << "its bucket is not full yet: it still limits the next connections";
  clock.advance(1s);
  table.prune();
  EXPECT_EQ(table.entries(), 0u) << "a second later the bucket is full: nothing is lost by forgetting it";
}

TEST(AdmissionTable, SlotReleasesExactlyOnceWhereverItMoves) {
  ManualClock clock;
  AdmissionTable table(clock, 1);
  const auto a = addr("127.0.0.2");
  auto v = table.admit(0, &a, rules(0));
  AdmissionTable::Slot moved = std::move(v.slot);
  AdmissionTable::Slot again;
  again = std::move(moved);
  EXPECT_EQ(table.listener_count(0), 1u);
  again.release();
  again.release();
  EXPECT_EQ(table.listener_count(0), 0u);
  EXPECT_EQ(table.group_count(AddressGroup(a, 32, 64)), 0u);
}

TEST(AdmissionTable, ProxiedClientIsCountedByItsAddressOnceKnown) {
  ManualClock clock;
  AdmissionTable table(clock, 1);
  const auto client = addr("192.0.2.7");
  auto first = table.admit(0, nullptr, rules(1));
  auto second = table.admit(0, nullptr, rules(1));
  EXPECT_EQ(first.refusal, AdmissionRefusal::none) << "the proxy's address is not counted";
  EXPECT_EQ(second.refusal, AdmissionRefusal::none);
  EXPECT_EQ(table.add_address(first.slot, client, rules(1)), AdmissionRefusal::none);
  EXPECT_EQ(table.add_address(second.slot, client, rules(1)), AdmissionRefusal::address_full);
  EXPECT_FALSE(second.slot.holds_address());
  second.slot.release();
  first.slot.release();
  EXPECT_EQ(table.listener_count(0), 0u);
  EXPECT_EQ(table.entries(), 0u);
}

TEST(AddressRefusal, DenyWinsAndAllowListsAreExclusive) {
  ListenerConfig l;
  l.allow.push_back(*net::AddressRange::parse("127.0.0.0/24"));
  l.deny.push_back(*net::AddressRange::parse("127.0.0.3"));
  EXPECT_EQ(address_refusal(l, addr("127.0.0.2")), AdmissionRefusal::none);
  EXPECT_EQ(address_refusal(l, addr("127.0.0.3")), AdmissionRefusal::denied);
  EXPECT_EQ(address_refusal(l, addr("127.0.1.2")), AdmissionRefusal::not_allowed);
  EXPECT_EQ(address_refusal(ListenerConfig{}, addr("127.0.1.2")), AdmissionRefusal::none) << "no lists: everyone";
}

LoginDelayRules login_rules() {
  LoginDelayRules r;
  r.base = 100ms;
  r.cap = 1s;
  r.quiet = 60s;
  return r;
}

TEST(LoginThrottle, DelayDoublesFromTheBaseUpToTheCap) {
  ManualClock clock;
  LoginThrottle t(clock);
  const AddressGroup g(addr("127.0.0.2"), 32, 64);
  std::vector<Clock::duration> delays;
  for (int i = 0; i < 6; ++i) delays.push_back(t.failed(g, login_rules()));
  const std::vector<Clock::duration> expected{100ms, 200ms, 400ms, 800ms, 1s, 1s};
  EXPECT_EQ(delays, expected);
}

TEST(LoginThrottle, ChecksWaitForTheRestOfTheDelay) {
  ManualClock clock;
  LoginThrottle t(clock);
  const AddressGroup g(addr("127.0.0.2"), 32, 64);
  EXPECT_EQ(t.wait_before_check(g, login_rules()), Clock::duration::zero()) << "no failure: no wait";
  t.failed(g, login_rules());
  t.failed(g, login_rules());  // delay 200 ms from now
  clock.advance(50ms);
  EXPECT_EQ(t.wait_before_check(g, login_rules()), 150ms);
  clock.advance(150ms);
  EXPECT_EQ(t.wait_before_check(g, login_rules()), Clock::duration::zero());
  const AddressGroup other(addr("127.0.0.3"), 32, 64);
  EXPECT_EQ(t.wait_before_check(other, login_rules()), Clock::duration::zero()) << "other addresses are not slowed";
}

TEST(LoginThrottle, SuccessOrQuietPeriodForgetsTheFailures) {
  ManualClock clock;
  LoginThrottle t(clock);
  const AddressGroup g(addr("127.0.0.2"), 32, 64);
  t.failed(g, login_rules());
  t.failed(g, login_rules());
  t.succeeded(g);
  EXPECT_EQ(t.failures(g), 0u);
  EXPECT_EQ(t.failed(g, login_rules()), 100ms) << "after a success the delay starts again from the base";
  clock.advance(61s);
  EXPECT_EQ(t.failed(g, login_rules()), 100ms) << "after the quiet period too";
  clock.advance(61s);
  t.prune(login_rules());
  EXPECT_EQ(t.entries(), 0u);
}

TEST(LoginThrottle, ZeroBaseTurnsItOff) {
  ManualClock clock;
  LoginThrottle t(clock);
  const AddressGroup g(addr("127.0.0.2"), 32, 64);
  LoginDelayRules off = login_rules();
  off.base = Clock::duration::zero();
  EXPECT_EQ(t.failed(g, off), Clock::duration::zero());
  EXPECT_EQ(t.entries(), 0u);
}

FlapRules flap_rules() {
  FlapRules r;
  r.max_connects = 3;
  r.window = 10s;
  r.ban = 30s;
  return r;
}

TEST(FlapGuard, BansTheConnectAfterMaxConnectsWithinTheWindow) {
  ManualClock clock;
  FlapGuard g(clock);
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(g.check("c", flap_rules()), FlapGuard::Verdict::allowed) << "connect " << i + 1;
    g.connected("c", flap_rules());
    clock.advance(1s);
  }
  EXPECT_EQ(g.check("c", flap_rules()), FlapGuard::Verdict::ban_started) << "the 4th within 10 s";
  EXPECT_EQ(g.check("other", flap_rules()), FlapGuard::Verdict::allowed);
  clock.advance(29s);
  EXPECT_EQ(g.check("c", flap_rules()), FlapGuard::Verdict::banned) << "still within the 30 s ban";
  clock.advance(1s);
  EXPECT_EQ(g.check("c", flap_rules()), FlapGuard::Verdict::allowed) << "the ban is over";
}

TEST(FlapGuard, ConnectsSpreadOverMoreThanTheWindowAreNotFlapping) {
  ManualClock clock;
  FlapGuard g(clock);
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(g.check("c", flap_rules()), FlapGuard::Verdict::allowed) << "connect " << i + 1;
    g.connected("c", flap_rules());
    clock.advance(4s);  // 3 per 12 s
  }
  clock.advance(30s);
  g.prune(flap_rules());
  EXPECT_EQ(g.entries(), 0u);
}

TEST(FlapGuard, OffWithZeroConnects) {
  ManualClock clock;
  FlapGuard g(clock);
  FlapRules off = flap_rules();
  off.max_connects = 0;
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(g.check("c", off), FlapGuard::Verdict::allowed);
    g.connected("c", off);
  }
  EXPECT_EQ(g.entries(), 0u);
}

TEST(RateLimitedLog, FirstEventAtOnceTheRestAsOneSummaryPerInterval) {
  ManualClock clock;
  std::vector<std::string> lines;
  RateLimitedLog log(clock, {"limits", "refused", "connection", "from", "max_connections_per_address"});
  log.sink = [&](const std::string& l) { lines.push_back(l); };
  for (int i = 0; i < 153; ++i) log.note("127.0.0.2/32");
  ASSERT_EQ(lines.size(), 1u) << "one line, not one per refusal";
  EXPECT_EQ(lines[0].rfind("refused a connection from 127.0.0.2/32 (max_connections_per_address)", 0), 0u) << lines[0];
  clock.advance(9s);
  log.flush();
  EXPECT_EQ(lines.size(), 1u) << "nothing more within the interval";
  clock.advance(1s);
  log.flush();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1], "refused 152 connections from 127.0.0.2/32 (max_connections_per_address) in the last 10 s");
  EXPECT_EQ(log.total(), 153u);
}

TEST(RateLimitedLog, SummaryNamesTheBusiestSubjects) {
  ManualClock clock;
  std::vector<std::string> lines;
  RateLimitedLog log(clock, {"limits", "refused", "connection", "from", "connect_rate_per_address"});
  log.sink = [&](const std::string& l) { lines.push_back(l); };
  log.note("10.0.0.1/32");
  for (int i = 0; i < 5; ++i) log.note("10.0.0.2/32");
  for (int i = 0; i < 7; ++i) log.note("10.0.0.3/32");
  log.note("10.0.0.4/32");
  log.note("10.0.0.5/32");
  clock.advance(10s);
  log.note("10.0.0.6/32");  // a new interval: the old one's summary first
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[1],
            "refused 14 connections (connect_rate_per_address) in the last 10 s: 7 from 10.0.0.3/32, 5 from "
            "10.0.0.2/32, 1 from 10.0.0.4/32 and 1 more");
  EXPECT_EQ(lines[2].rfind("refused a connection from 10.0.0.6/32", 0), 0u) << lines[2];
}

TEST(RateLimitedLog, ALoneEventHasNoSummary) {
  ManualClock clock;
  std::vector<std::string> lines;
  RateLimitedLog log(clock, {"limits", "refused", "CONNECT", "of client id", "flapping ban"});
  log.sink = [&](const std::string& l) { lines.push_back(l); };
  log.note("\"c\"");
  clock.advance(11s);
  log.flush();
  EXPECT_EQ(lines.size(), 1u);
}

}  // namespace
}  // namespace hermod::broker
