// Retained messages: the last retained message per topic name, found by topic filter when a
// client subscribes. Shared by all workers and guarded by one mutex: it is touched only by
// retained PUBLISHes and by SUBSCRIBE, never on the ordinary publish path.
// Thread-safe.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "broker/message.hpp"

namespace hermod::broker {

class RetainedStore {
 public:
  RetainedStore();
  ~RetainedStore();

  // Stores `msg` as the retained message of its topic; an empty payload deletes it [MQTT-3.3.1-10].
  void set(const MessagePtr& msg);

  // Appends the retained messages whose topic matches `filter` (valid, non-shared) to `out`.
  void match(std::string_view filter, std::vector<MessagePtr>& out) const;

  std::size_t size() const;

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
