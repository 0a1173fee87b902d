// limits.max_topic_length and limits.max_topic_depth, for topic names and filters alike (a
// shared subscription's "$share/group/" prefix counts too: it is what the client sent). Any
// thread; pure.
#pragma once

#include <algorithm>
#include <string_view>

#include "broker/config/config.hpp"

namespace hermod::broker {

inline bool exceeds_topic_limits(std::string_view topic, const Limits& limits) {
  if (topic.size() > limits.max_topic_length) return true;
  if (limits.max_topic_depth == 0) return false;
  const auto levels = static_cast<std::size_t>(std::count(topic.begin(), topic.end(), '/')) + 1;
  return levels > limits.max_topic_depth;
}

}  // namespace hermod::broker
