// The ACL file: Mosquitto's acl_file format, read as it is, plus `client` sections.
//
//   # comment
//   topic read public/#            <- before any user/client line: anonymous clients
//   user alice                     <- the rules below are alice's
//   topic readwrite alice/#
//   topic deny alice/secret
//   client sensor-17               <- Hermod: the rules below are client id sensor-17's
//   topic write sensors/17/#
//   pattern write devices/%c/#     <- every client, %u/%c its user name / client id
//
// `topic` and `pattern` take an access word (read, write, readwrite, deny) and a topic filter,
// the rest of the line; a single word is a filter with readwrite access, as Mosquitto reads it. Rule semantics: acl.hpp; the format and a
// hardening guide: docs/security.md. Main thread (start-up and reload).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "broker/auth/acl.hpp"

namespace hermod::broker::auth {

// Parses an ACL file's text; `source` names it in errors. Throws ConfigError
// ("source:line: message") at the first bad line.
std::shared_ptr<const Acl> parse_acl_file(std::string_view text, const std::string& source,
                                          std::uint64_t generation = 1);
// Reads and parses `path`. Throws ConfigError, also when the file cannot be read.
std::shared_ptr<const Acl> load_acl_file(const std::string& path, std::uint64_t generation = 1);

}  // namespace hermod::broker::auth
