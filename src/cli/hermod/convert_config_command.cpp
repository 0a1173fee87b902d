#include "convert_config_command.hpp"

#include <filesystem>
#include <iostream>

#include "broker/auth/acl_file.hpp"
#include "broker/auth/password_file.hpp"
#include "broker/config/config.hpp"
#include "broker/config/mosquitto_convert.hpp"

namespace hermod::cli {

namespace {

namespace mosquitto = hermod::broker::mosquitto;

// Why Hermod's password file parser refuses `path`, if it does.
mosquitto::PasswordFileProblem password_file_problem(const std::string& path) {
  try {
    hermod::broker::auth::load_password_file(path);
    return {};
  } catch (const hermod::broker::auth::PlainTextPasswordError& e) {
    return {e.what(), true};
  } catch (const hermod::broker::ConfigError& e) {
    return {e.what(), false};
  }
}

// Why Hermod's ACL file parser refuses `path` ("" if it takes it).
std::string acl_file_problem(const std::string& path) {
  try {
    hermod::broker::auth::load_acl_file(path);
    return "";
  } catch (const hermod::broker::ConfigError& e) {
    return e.what();
  }
}

void print(const std::vector<mosquitto::Warning>& warnings) {
  for (const auto& w : warnings) std::cerr << w.str() << "\n";
}

}  // namespace

CLI::App* add_convert_config_command(CLI::App& app, ConvertConfigOptions& o) {
  auto* cmd = app.add_subcommand(
      "convert-config",
      "print the Hermod configuration for a mosquitto.conf; warn about what is not carried over "
      "(see docs/migrating-from-mosquitto.md)");
  cmd->add_option("file", o.file, "the mosquitto configuration file (mosquitto.conf)")->required();
  return cmd;
}

int run_convert_config(const ConvertConfigOptions& o) {
  mosquitto::ConvertOptions options;
  std::error_code ec;
  options.cwd = std::filesystem::current_path(ec);
  if (ec) {
    std::cerr << "hermod convert-config: cannot find the current directory: " << ec.message() << "\n";
    return 1;
  }
  options.password_file_problem = password_file_problem;
  options.acl_file_problem = acl_file_problem;
  std::vector<mosquitto::Warning> warnings;
  try {
    const std::string toml = mosquitto::convert_file(o.file, options, warnings);
    print(warnings);
    std::cout << toml << std::flush;
    return std::cout ? 0 : 1;
  } catch (const hermod::broker::ConfigError& e) {
    print(warnings);
    std::cerr << "hermod convert-config: " << e.what() << "\n";
  } catch (const std::exception& e) {
    print(warnings);
    std::cerr << "hermod convert-config: " << o.file << ": " << e.what() << "\n";
  }
  return 1;
}

}  // namespace hermod::cli
