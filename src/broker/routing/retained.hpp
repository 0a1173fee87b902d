// Retained messages: the last retained message per topic name, found by topic filter when a
// client subscribes. RetainedStore is the seam (set, clear by an empty payload, match a filter)
// that a cluster implements beside the local one (../shared/SCALE-OUT.md); it is called only by
// retained PUBLISHes and by SUBSCRIBE, never on the ordinary publish path, so a virtual call is
// no cost. LocalRetainedStore is shared by all workers and guarded by one mutex.
// Thread-safe.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "broker/routing/message.hpp"

namespace hermod::broker {

class RetainedStore {
 public:
  virtual ~RetainedStore() = default;
  // Stores `msg` as the retained message of its topic; an empty payload deletes it [MQTT-3.3.1-10].
  virtual void set(const MessagePtr& msg) = 0;
  // Appends the retained messages whose topic matches `filter` (valid, non-shared) to `out`.
  virtual void match(std::string_view filter, std::vector<MessagePtr>& out) const = 0;
  // Retained messages held.
  virtual std::size_t size() const = 0;
};

class LocalRetainedStore final : public RetainedStore {
 public:
  LocalRetainedStore();
  ~LocalRetainedStore() override;

  void set(const MessagePtr& msg) override;
  void match(std::string_view filter, std::vector<MessagePtr>& out) const override;
  std::size_t size() const override;

 private:
  struct Node {
    std::unordered_map<std::string, std::unique_ptr<Node>> children;
    MessagePtr message;
  };
  static void collect_all(const Node& n, std::vector<MessagePtr>& out);

  mutable std::mutex mutex_;
  std::unique_ptr<Node> root_;
  std::size_t count_ = 0;
};

}  // namespace hermod::broker
