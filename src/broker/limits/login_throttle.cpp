#include "broker/limits/login_throttle.hpp"

#include <algorithm>

namespace hermod::broker {

LoginDelayRules LoginDelayRules::of(const Limits& limits) {
  LoginDelayRules r;
  r.base = std::chrono::milliseconds(limits.login_failure_delay_ms);
  r.cap = std::max<Clock::duration>(r.base, std::chrono::milliseconds(limits.login_failure_delay_max_ms));
  r.quiet = std::chrono::seconds(limits.login_failure_quiet_period);
  return r;
}

Clock::duration LoginThrottle::delay_of(std::uint32_t failures, const LoginDelayRules& rules) {
  if (failures == 0 || rules.base == Clock::duration::zero()) return Clock::duration::zero();
  // Doubling stops at the cap; 2^30 times any base in milliseconds is past every cap.
  const auto doublings = std::min<std::uint32_t>(failures - 1, 30);
  const auto grown = rules.base * (std::int64_t{1} << doublings);
  return std::min(grown, rules.cap);
}

Clock::duration LoginThrottle::wait_before_check(const AddressGroup& group, const LoginDelayRules& rules) {
  if (rules.base == Clock::duration::zero()) return Clock::duration::zero();
  const auto now = clock_.now();
  std::lock_guard lock(mutex_);
  const auto it = groups_.find(group);
  if (it == groups_.end()) return Clock::duration::zero();
  if (now - it->second.last_failure > rules.quiet) {
    groups_.erase(it);
    return Clock::duration::zero();
  }
  const auto until = it->second.last_failure + delay_of(it->second.failures, rules);
  return until > now ? until - now : Clock::duration::zero();
}

Clock::duration LoginThrottle::failed(const AddressGroup& group, const LoginDelayRules& rules) {
  if (rules.base == Clock::duration::zero()) return Clock::duration::zero();
  const auto now = clock_.now();
  std::lock_guard lock(mutex_);
  Entry& e = groups_[group];
  if (e.failures != 0 && now - e.last_failure > rules.quiet) e.failures = 0;
  if (e.failures < ~0u) ++e.failures;
  e.last_failure = now;
  return delay_of(e.failures, rules);
}

void LoginThrottle::succeeded(const AddressGroup& group) {
  std::lock_guard lock(mutex_);
  if (!groups_.empty()) groups_.erase(group);
}

void LoginThrottle::prune(const LoginDelayRules& rules) {
  const auto now = clock_.now();
  std::lock_guard lock(mutex_);
  std::erase_if(groups_, [&](const auto& kv) { return now - kv.second.last_failure > rules.quiet; });
}

std::vector<LoginThrottle::Delayed> LoginThrottle::delayed(const LoginDelayRules& rules) const {
  const auto now = clock_.now();
  std::vector<Delayed> out;
  std::lock_guard lock(mutex_);
  for (const auto& [group, e] : groups_) {
    const auto forgotten_at = e.last_failure + rules.quiet;
    if (now >= forgotten_at) continue;
    out.push_back(Delayed{group, delay_of(e.failures, rules), forgotten_at - now});
  }
  std::sort(out.begin(), out.end(), [](const Delayed& a, const Delayed& b) { return a.group.to_string() < b.group.to_string(); });
  return out;
}

bool LoginThrottle::forget(std::string_view group) {
  std::lock_guard lock(mutex_);
  for (auto it = groups_.begin(); it != groups_.end(); ++it) {
    if (it->first.to_string() == group) {
      groups_.erase(it);
      return true;
    }
  }
  return false;
}

std::uint32_t LoginThrottle::failures(const AddressGroup& group) const {
  std::lock_guard lock(mutex_);
  const auto it = groups_.find(group);
  return it == groups_.end() ? 0 : it->second.failures;
}

std::size_t LoginThrottle::entries() const {
  std::lock_guard lock(mutex_);
  return groups_.size();
}

}  // namespace hermod::broker
