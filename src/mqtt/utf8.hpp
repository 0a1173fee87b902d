// UTF-8 validation as MQTT requires (section 1.5.3 of 3.1.1 and 1.5.4 of 5.0): well-formed UTF-8
// (no overlong forms, no surrogates U+D800..U+DFFF, nothing above U+10FFFF) and no U+0000.
// Any thread; pure functions.
#pragma once

#include <string_view>

namespace hermod::mqtt {

// True if `s` is well-formed UTF-8 without U+0000 [MQTT-1.5.3-1] [MQTT-1.5.3-2].
bool is_valid_mqtt_utf8(std::string_view s);

// True if `s` (valid UTF-8) holds a control character: U+0001..U+001F or U+007F..U+009F, code
// points the standard says SHOULD NOT be sent and a receiver MAY treat as malformed (1.5.4 of
// 5.0, 1.5.3 of 3.1.1). Hermod refuses them in identifiers only: client identifiers, user names,
// topic names (will topic and Response Topic included) and topic filters (docs/conformance.md).
bool has_control_character(std::string_view s);

// What one pass over an identifier found (bit flags). The decoder's hot path: a PUBLISH topic is
// checked for UTF-8, control characters and wildcards in one pass instead of three.
enum TextFlags : unsigned {
  kTextBadUtf8 = 1,   // not well-formed UTF-8, or U+0000
  kTextControl = 2,   // U+0001..U+001F or U+007F..U+009F (meaningful only if the UTF-8 is valid)
  kTextWildcard = 4,  // '+' or '#'
};
unsigned scan_text(std::string_view s);

}  // namespace hermod::mqtt
