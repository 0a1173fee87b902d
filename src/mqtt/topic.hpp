// Topic names and topic filters (section 4.7 of both standards): validation, matching, and the
// parts of a shared subscription "$share/{group}/{filter}" (MQTT 5.0 section 4.8.2).
// Any thread; pure functions.
#pragma once

#include <optional>
#include <string_view>

namespace hermod::mqtt {

inline constexpr std::size_t kMaxTopicLength = 65535;

// A topic name as a PUBLISH carries it: at least one character [MQTT-4.7.3-1], no '+' or '#'
// [MQTT-3.3.2-2]. UTF-8 validity is the decoder's job and is not checked here.
bool is_valid_topic_name(std::string_view name);

// A topic filter as SUBSCRIBE/UNSUBSCRIBE carry it: non-empty, '#' only as the whole last level
// [MQTT-4.7.1-2], '+' only as a whole level [MQTT-4.7.1-3]. A shared subscription must also name a
// non-empty group without wildcards and a valid filter after it.
bool is_valid_topic_filter(std::string_view filter);

// True if `name` matches `filter`. Filters starting with a wildcard do not match topic names
// starting with '$' [MQTT-4.7.2-1]. Preconditions: both valid; `filter` not a shared subscription.
bool topic_matches(std::string_view filter, std::string_view name);

// "$share/group/a/b" → {group "group", filter "a/b"}; nullopt for a filter that is not shared.
struct SharedFilter {
  std::string_view group;
  std::string_view filter;
};
std::optional<SharedFilter> parse_shared_filter(std::string_view filter);

// True if the filter contains '+' or '#'.
bool has_wildcard(std::string_view filter);

}  // namespace hermod::mqtt
