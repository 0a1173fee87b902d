#include "broker/auth/acl.hpp"

#include "mqtt/topic.hpp"

namespace hermod::broker::auth {

namespace {

constexpr std::uint8_t bit(Access a) { return static_cast<std::uint8_t>(a); }

// The first level of `rest` and what follows it.
struct Split {
  std::string_view level;
  std::string_view rest;
  bool last;  // no level follows
};
Split split(std::string_view s) {
  const auto slash = s.find('/');
  if (slash == std::string_view::npos) return {s, {}, true};
  return {s.substr(0, slash), s.substr(slash + 1), false};
}

bool is_sys(std::string_view topic) { return topic.substr(0, 4) == "$SYS" && (topic.size() == 4 || topic[4] == '/'); }

bool allows(std::uint8_t bits, Access wanted) {
  return (bits & bit(Access::deny)) == 0 && (bits & bit(wanted)) != 0;
}

}  // namespace

void RuleTree::add(std::string_view filter, Access access, bool pattern) {
  Node* n = &root_;
  for (;;) {
    const auto [level, rest, last] = split(filter);
    std::unique_ptr<Node>* slot = nullptr;
    if (level == "+") {
      slot = &n->plus;
    } else if (level == "#") {
      slot = &n->hash;
    } else if (pattern && level == "%u") {
      slot = &n->user;
    } else if (pattern && level == "%c") {
      slot = &n->client;
    } else {
      auto it = n->children.find(level);
      if (it == n->children.end()) it = n->children.emplace(std::string(level), std::make_unique<Node>()).first;
      slot = &it->second;
    }
    if (!*slot) *slot = std::make_unique<Node>();
    n = slot->get();
    if (last) break;
    filter = rest;
  }
  n->access |= bit(access);
  ++rules_;
}

std::uint8_t RuleTree::match(std::string_view topic, const AclSubject& who) const {
  // A topic name has no '+' or '#' level, and for such a "filter" covering is matching.
  return cover(topic, who);
}

std::uint8_t RuleTree::cover(std::string_view filter, const AclSubject& who) const {
  std::uint8_t bits = 0;
  cover_from(root_, filter, false, true, who, bits);
  return bits;
}

// `rest` holds the levels still to cover (none when `at_end`); `first` while at the root.
void RuleTree::cover_from(const Node& n, std::string_view rest, bool at_end, bool first, const AclSubject& who,
                          std::uint8_t& bits) const {
  if (at_end) {
    bits |= n.access | (n.hash ? n.hash->access : 0);
    return;
  }
  const auto [level, next, last] = split(rest);
  const bool dollar = first && !level.empty() && level.front() == '$';
  // A '#' rule covers whatever the filter asks from this level on.
  if (n.hash && !dollar) bits |= n.hash->access;
  if (level == "#") return;  // only a '#' rule covers '#'
  if (level == "+") {
    // Only '+' covers '+': a %u level matches one name, not every one.
    if (n.plus) cover_from(*n.plus, next, last, false, who, bits);
    return;
  }
  if (const auto it = n.children.find(level); it != n.children.end()) cover_from(*it->second, next, last, false, who, bits);
  if (dollar) return;
  if (n.plus) cover_from(*n.plus, next, last, false, who, bits);
  if (n.user && who.user && *who.user == level) cover_from(*n.user, next, last, false, who, bits);
  if (n.client && who.client_id == level) cover_from(*n.client, next, last, false, who, bits);
}

void Acl::add_topic(const Section& section, std::string_view filter, Access access) {
  switch (section.kind) {
    case Section::Kind::anonymous: anonymous_.add(filter, access, false); return;
    case Section::Kind::user: users_[section.name].add(filter, access, false); return;
    case Section::Kind::client: clients_[section.name].add(filter, access, false); return;
  }
}

void Acl::add_pattern(std::string_view filter, Access access) { patterns_.add(filter, access, true); }

const RuleTree* Acl::own(const AclSubject& who) const {
  if (!who.user) return &anonymous_;
  const auto it = users_.find(*who.user);
  return it == users_.end() ? nullptr : &it->second;
}

std::uint8_t Acl::match(std::string_view topic, const AclSubject& who) const { return cover(topic, who); }

std::uint8_t Acl::cover(std::string_view filter, const AclSubject& who) const {
  std::uint8_t bits = patterns_.cover(filter, who);
  if (const RuleTree* t = own(who)) bits |= t->cover(filter, who);
  if (!clients_.empty()) {
    if (const auto it = clients_.find(who.client_id); it != clients_.end()) bits |= it->second.cover(filter, who);
  }
  return bits;
}

bool Acl::may_publish(std::string_view topic, const AclSubject& who) const {
  // $SYS is the broker's own: no rule lets a client speak for it.
  if (is_sys(topic)) return false;
  return allows(match(topic, who), Access::write);
}

bool Acl::may_receive(std::string_view topic, const AclSubject& who) const {
  return allows(match(topic, who), Access::read);
}

bool Acl::may_subscribe(std::string_view filter, const AclSubject& who) const {
  if (const auto shared = mqtt::parse_shared_filter(filter)) filter = shared->filter;
  return allows(cover(filter, who), Access::read);
}

std::size_t Acl::rule_count() const {
  std::size_t n = anonymous_.size() + patterns_.size();
  for (const auto& [name, t] : users_) n += t.size();
  for (const auto& [name, t] : clients_) n += t.size();
  return n;
}

bool AclCache::check(const Acl& acl, std::string_view topic, Last& last, bool write) {
  if (last.generation == acl.generation() && last.topic == topic) return last.allowed;
  const bool allowed = write ? acl.may_publish(topic, subject()) : acl.may_receive(topic, subject());
  last.generation = acl.generation();
  last.topic.assign(topic);
  last.allowed = allowed;
  return allowed;
}

}  // namespace hermod::broker::auth
