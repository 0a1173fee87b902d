// The ACL file parser and the rule tries. Input: an ACL file's text, then a NUL byte, then
// topic names and filters, one per line, checked against it for a user "u" with client id "c"
// and for an anonymous client. Nothing may crash (a bad file is a ConfigError); and for a
// topic name (no wildcard) subscribing is allowed exactly when receiving is: a filter that
// matches one topic is covered by exactly the rules that match that topic.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "broker/auth/acl_file.hpp"
#include "broker/config/config.hpp"
#include "fuzz_check.hpp"
#include "mqtt/topic.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const auto nul = in.find('\0');
  const auto text = in.substr(0, nul);
  std::shared_ptr<const hermod::broker::auth::Acl> acl;
  try {
    acl = hermod::broker::auth::parse_acl_file(text, "fuzz");
  } catch (const hermod::broker::ConfigError&) {
    return 0;
  }
  if (nul == std::string_view::npos) return 0;
  const hermod::broker::auth::AclSubject who[] = {{"u", "c"}, {std::nullopt, "c"}};
  for (std::string_view rest = in.substr(nul + 1); !rest.empty();) {
    const auto end = rest.find('\n');
    const auto line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
    if (!hermod::mqtt::is_valid_topic_filter(line)) continue;
    for (const auto& w : who) {
      const bool subscribe = acl->may_subscribe(line, w);
      if (hermod::mqtt::is_valid_topic_name(line)) {
        (void)acl->may_publish(line, w);
        if (!hermod::mqtt::parse_shared_filter(line)) FUZZ_CHECK(subscribe == acl->may_receive(line, w));
      }
    }
  }
  return 0;
}
