#include "broker/session/session_registry.hpp"

#include <algorithm>

namespace hermod::broker {

Session* SessionRegistry::find(std::string_view client_id) {
  auto it = sessions_.find(client_id);
  return it == sessions_.end() ? nullptr : it->second.get();
}

Session* SessionRegistry::by_uid(std::uint64_t uid) {
  auto it = by_uid_.find(uid);
  return it == by_uid_.end() ? nullptr : it->second;
}

Session& SessionRegistry::create(const std::string& client_id, std::uint32_t expiry_interval, std::uint64_t uid) {
  if (uid == 0) uid = (++next_uid_ << 10) | worker_;
  auto s = std::make_unique<Session>(client_id, uid, expiry_interval);
  Session& ref = *s;
  by_uid_[uid] = s.get();
  sessions_.emplace(ref.client_id(), std::move(s));
  stats_.sessions.add();
  return ref;
}

void SessionRegistry::erase(Session& s) {
  offline_watch_.erase(&s);
  stats_.sessions.sub();
  by_uid_.erase(s.uid());
  sessions_.erase(sessions_.find(s.client_id()));
}

void SessionRegistry::watch(Session& s) {
  if (s.expiry_interval() != Session::kNeverExpires || s.pending_will()) offline_watch_.insert(&s);
}

std::string SessionRegistry::generate_client_id() {
  for (std::uint64_t n = 0;; ++n) {
    std::string id = "hermod-" + std::to_string(worker_) + "-" + std::to_string(++next_uid_) + "-" + std::to_string(n);
    if (directory_.home(id) == worker_ && !find(id)) return id;
  }
}

}  // namespace hermod::broker
