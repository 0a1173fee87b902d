#include "broker/limits/flap_guard.hpp"

namespace hermod::broker {

FlapRules FlapRules::of(const Limits& limits) {
  FlapRules r;
  r.max_connects = limits.flapping_connects;
  r.window = std::chrono::seconds(limits.flapping_window);
  r.ban = std::chrono::seconds(limits.flapping_ban);
  return r;
}

FlapGuard::Verdict FlapGuard::check(std::string_view client_id, const FlapRules& rules) {
  if (rules.max_connects == 0 || ids_.empty()) return Verdict::allowed;
  const auto it = ids_.find(client_id);
  if (it == ids_.end()) return Verdict::allowed;
  const auto now = clock_.now();
  Entry& e = it->second;
  if (now < e.banned_until) return Verdict::banned;
  if (now - e.window_start < rules.window && e.connects >= rules.max_connects) {
    // One more within the window: the loop is the client's, not a reconnect after an outage.
    e.banned_until = now + rules.ban;
    e.connects = 0;
    return Verdict::ban_started;
  }
  return Verdict::allowed;
}

void FlapGuard::connected(std::string_view client_id, const FlapRules& rules) {
  if (rules.max_connects == 0) return;
  const auto now = clock_.now();
  auto it = ids_.find(client_id);
  if (it == ids_.end()) it = ids_.emplace(std::string(client_id), Entry{}).first;
  Entry& e = it->second;
  if (e.connects == 0 || now - e.window_start >= rules.window) {
    e.window_start = now;
    e.connects = 0;
  }
  ++e.connects;
}

std::vector<std::pair<std::string, Clock::duration>> FlapGuard::banned() const {
  const auto now = clock_.now();
  std::vector<std::pair<std::string, Clock::duration>> out;
  for (const auto& [id, e] : ids_) {
    if (now < e.banned_until) out.emplace_back(id, e.banned_until - now);
  }
  return out;
}

bool FlapGuard::lift(std::string_view client_id) {
  const auto it = ids_.find(client_id);
  if (it == ids_.end() || clock_.now() >= it->second.banned_until) return false;
  ids_.erase(it);
  return true;
}

void FlapGuard::prune(const FlapRules& rules) {
  if (ids_.empty()) return;
  const auto now = clock_.now();
  std::erase_if(ids_, [&](const auto& kv) {
    return now >= kv.second.banned_until && now - kv.second.window_start >= rules.window;
  });
}

}  // namespace hermod::broker
