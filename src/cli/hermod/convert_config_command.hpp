// `hermod convert-config FILE`: prints the Hermod configuration equivalent to the mosquitto.conf
// FILE on standard output, and one warning per option not carried over on standard error
// ("file:line: key: why"). The conversion itself is broker/config/mosquitto_convert.hpp; this
// is the command line around it. Main thread of the hermod executable.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

namespace hermod::cli {

struct ConvertConfigOptions {
  std::string file;
};

// Registers the `convert-config` subcommand on `app`, filling `o`.
CLI::App* add_convert_config_command(CLI::App& app, ConvertConfigOptions& o);

// Runs it; returns the exit code: 0 converted (warnings or not), 1 the file cannot be read or
// converted (the error, with file and line, on stderr; nothing on stdout).
int run_convert_config(const ConvertConfigOptions& o);

}  // namespace hermod::cli
