// `hermod convert-config`: a Mosquitto 2.0 configuration (mosquitto.conf and its include_dir
// files) turned into the Hermod TOML configuration that behaves the same as far as Hermod can,
// with a warning for every key it does not carry over. docs/migrating-from-mosquitto.md is the
// user's view of the mapping. The only I/O is reading the files; no state; any thread.
//
// Where Hermod cannot say what mosquitto said, the conversion chooses by two rules, and says so
// in a warning:
//   * who may connect: never let in a client that mosquitto kept out. A listener whose clients
//     mosquitto confines or refuses in a way Hermod has no words for (bind_interface,
//     mount_point, TLS-PSK, require_certificate with no CA to check against) is not carried
//     over; per-listener security settings that differ become the strictest of them (one
//     password file and one ACL file for every listener); a password file Hermod cannot read
//     becomes an empty one.
//   * limits: never refuse what mosquitto accepted. Per-listener limits that Hermod has for
//     all listeners only become the most generous of them; max_connections stays per listener.
// The TOML produced always loads in Hermod (the conversion checks it with parse_config); all
// paths in it are absolute, so it works wherever it is saved.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/config/mosquitto_conf.hpp"

namespace hermod::broker::mosquitto {

// What Hermod makes of a password file.
struct PasswordFileProblem {
  std::string what;         // why Hermod cannot use the file ("file:line: ..."); "": it can
  bool plain_text = false;  // the reason is a plain-text password, which `hermod passwd -U` hashes
};

struct ConvertOptions {
  // Mosquitto opens relative paths from its working directory: the directory to resolve them
  // against (normally the current one).
  std::filesystem::path cwd;
  // Why Hermod cannot use the password file at `path` (absolute), if it cannot: the caller
  // passes Hermod's password file parser, so this unit needs no auth code. Unset: every file is
  // taken as readable.
  std::function<PasswordFileProblem(const std::string& path)> password_file_problem;
  // Why Hermod cannot read the ACL file at `path` (absolute), or "" if it can; the same way.
  std::function<std::string(const std::string& path)> acl_file_problem;
};

// Converts the mosquitto configuration file `path` (relative to options.cwd if relative) and
// returns the Hermod TOML. `warnings` receives one entry per key not carried over (or carried
// over with a difference worth knowing), in the order of the lines they are about; it is
// filled even when the conversion then fails. Throws ConfigError ("file:line: key: message")
// for a file that cannot be read, a line mosquitto would refuse, or a configuration that cannot
// be converted at all.
std::string convert_file(const std::string& path, const ConvertOptions& options, std::vector<Warning>& warnings);

// The same for a main file whose text is given; `path` names it (and resolves include_dir).
std::string convert_text(std::string_view text, const std::string& path, const ConvertOptions& options,
                         std::vector<Warning>& warnings);

// What limits.max_packet_size adds to mosquitto's message_size_limit (a payload limit) so that
// no PUBLISH whose payload mosquitto would take is refused: the largest fixed header (5 bytes),
// the longest topic name with its length (2 + 65,535) and the packet identifier (2).
constexpr std::uint32_t kPublishOverhead = 5 + 2 + 65'535 + 2;

}  // namespace hermod::broker::mosquitto
