// `hermod passwd FILE USER`: adds, updates or removes one user of a password file (format in
// docs/security.md), keeping every other line. `hermod passwd -U FILE` hashes the file's
// plain-text passwords (a Mosquitto file before `mosquitto_passwd -U`) into SCRAM entries and
// keeps every other line. Main thread of the hermod executable.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

namespace hermod::cli {

struct PasswdOptions {
  std::string file;
  std::string user;  // empty with -U
  std::optional<std::string> password;  // else read from standard input
  bool remove = false;
  bool upgrade = false;  // -U
  std::uint32_t iterations = 0;  // 0: the default
};

// Registers the `passwd` subcommand on `app`, filling `o`.
CLI::App* add_passwd_command(CLI::App& app, PasswdOptions& o);

// Runs it; returns the exit code (0 done, 1 error, reported on stderr).
int run_passwd(const PasswdOptions& o);

}  // namespace hermod::cli
