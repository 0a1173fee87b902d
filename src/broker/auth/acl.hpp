// Topic access control: who may publish to, subscribe to and receive which topics. Rules come
// from an ACL file in Mosquitto's acl_file format (acl_file.hpp parses it) and are held in tries
// over topic levels, one per rule set: the anonymous set (rules before the first `user` or
// `client` line), one per user name, one per client id (a Hermod extension) and the patterns,
// which apply to every client with `%u`/`%c` levels standing for its user name and client id.
//
// Semantics (docs/security.md#topic-acl): a rule grants read (subscribe and receive), write
// (publish, and the will topic) or both, or denies both. A deny rule that matches wins over any
// grant; what no rule grants is denied. A filter is granted for SUBSCRIBE when a read rule covers
// it (every topic it matches, that rule matches too) and no deny rule covers it; each message is
// then checked again on delivery. Rules whose first level is a wildcard (or %u/%c) never match
// topics starting with '$', as MQTT matching goes [MQTT-4.7.2-1].
//
// An Acl is immutable once built and shared by every worker (shared_ptr<const Acl>); a reload
// builds a new one with a new generation. Any thread; checks allocate nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/string_hash.hpp"

namespace hermod::broker::auth {

enum class Access : std::uint8_t { read = 1, write = 2, readwrite = 3, deny = 4 };

// Who asks: a client's user name (none for an anonymous client) and client id.
struct AclSubject {
  std::optional<std::string_view> user;
  std::string_view client_id;
};

// The rules of one rule set, as a trie over topic levels.
class RuleTree {
 public:
  // Adds a rule for `filter` (a valid topic filter; in a pattern set, "%u" and "%c" levels stand
  // for the subject's user name and client id).
  void add(std::string_view filter, Access access, bool pattern);
  // The access bits (Access values OR'ed) of every rule matching topic name `topic`.
  std::uint8_t match(std::string_view topic, const AclSubject& who) const;
  // The access bits of every rule covering filter `filter`: each topic `filter` matches, the
  // rule matches too.
  std::uint8_t cover(std::string_view filter, const AclSubject& who) const;
  bool empty() const { return rules_ == 0; }
  std::size_t size() const { return rules_; }

 private:
  struct Node {
    std::unordered_map<std::string, std::unique_ptr<Node>, StringHash, std::equal_to<>> children;
    std::unique_ptr<Node> plus, hash, user, client;  // '+', '#', %u, %c
    std::uint8_t access = 0;                         // rules ending at this node
  };
  void cover_from(const Node& n, std::string_view rest, bool at_end, bool first, const AclSubject& who,
                  std::uint8_t& bits) const;

  Node root_;
  std::size_t rules_ = 0;
};

class Acl {
 public:
  // `generation` tells this ACL from the ones loaded before it (AclCache); the loader counts.
  explicit Acl(std::uint64_t generation = 1) : generation_(generation) {}

  // The rule set a rule is added to.
  struct Section {
    enum class Kind : std::uint8_t { anonymous, user, client } kind = Kind::anonymous;
    std::string name;  // user name or client id
  };
  void add_topic(const Section& section, std::string_view filter, Access access);
  void add_pattern(std::string_view filter, Access access);

  // What `who` may do. Publishing to "$SYS/..." is refused whatever the rules say.
  bool may_publish(std::string_view topic, const AclSubject& who) const;
  bool may_receive(std::string_view topic, const AclSubject& who) const;
  // For SUBSCRIBE; a shared subscription's filter is checked without its "$share/group/".
  bool may_subscribe(std::string_view filter, const AclSubject& who) const;

  std::size_t rule_count() const;
  std::uint64_t generation() const { return generation_; }

 private:
  std::uint8_t match(std::string_view topic, const AclSubject& who) const;
  std::uint8_t cover(std::string_view filter, const AclSubject& who) const;
  const RuleTree* own(const AclSubject& who) const;

  RuleTree anonymous_;
  std::unordered_map<std::string, RuleTree, StringHash, std::equal_to<>> users_;
  std::unordered_map<std::string, RuleTree, StringHash, std::equal_to<>> clients_;
  RuleTree patterns_;
  std::uint64_t generation_;
};

// A client's verdicts, kept beside its session: the last topic asked about for each direction
// and the answer, valid while the ACL's generation is the same. Publishers and subscribers
// mostly use one topic after another, so most checks cost a string compare. One thread (the
// session's worker).
class AclCache {
 public:
  AclCache(std::optional<std::string> user, std::string client_id)
      : user_(std::move(user)), client_id_(std::move(client_id)) {}

  bool may_publish(const Acl& acl, std::string_view topic) { return check(acl, topic, write_, true); }
  bool may_receive(const Acl& acl, std::string_view topic) { return check(acl, topic, read_, false); }
  bool may_subscribe(const Acl& acl, std::string_view filter) const { return acl.may_subscribe(filter, subject()); }
  AclSubject subject() const {
    return {user_ ? std::optional<std::string_view>(*user_) : std::nullopt, client_id_};
  }
  const std::optional<std::string>& user() const { return user_; }

 private:
  struct Last {
    std::uint64_t generation = 0;  // 0: nothing cached
    std::string topic;
    bool allowed = false;
  };
  bool check(const Acl& acl, std::string_view topic, Last& last, bool write);

  std::optional<std::string> user_;
  std::string client_id_;
  Last write_;
  Last read_;
};

}  // namespace hermod::broker::auth
