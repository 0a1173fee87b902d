// Percent-encoding of URL parts (RFC 3986 section 2.1): the user and password of a broker URL
// (client library), the paths and queries of HTTP requests (src/http). Text only, no I/O; any
// thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace hermod::net {

// %XX becomes the byte; nullopt for a '%' not followed by two hex digits. With `plus_is_space`
// (a query's form encoding) '+' becomes ' '; elsewhere it stays '+'.
std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space = false);

}  // namespace hermod::net
