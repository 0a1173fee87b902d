// hermod-cli: command-line tools for MQTT brokers (any broker, not only Hermod).
//   hermod-cli pub …   publish, with mosquitto_pub's flags
//   hermod-cli sub …   subscribe and print, with mosquitto_sub's flags
//   hermod-cli bench … load generator (pairs, fanout, fanin, latency, conns)
// Exceptions stop here: a message on stderr and exit code 1.
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "commands.hpp"

namespace {

void usage(std::FILE* out) {
  std::fputs(
      "hermod-cli " HERMOD_VERSION ": MQTT command-line tools\n"
      "\n"
      "usage: hermod-cli pub [options]   publish messages (flags as mosquitto_pub)\n"
      "       hermod-cli sub [options]   subscribe and print messages (flags as mosquitto_sub)\n"
      "       hermod-cli bench SCENARIO  load generator: pairs, fanout, fanin, latency, conns\n"
      "       hermod-cli COMMAND --help  options of a command\n",
      out);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    usage(stderr);
    return 1;
  }
  const std::string command = args.front();
  args.erase(args.begin());
  try {
    if (command == "pub") return hermod::cli::run_pub(std::move(args));
    if (command == "sub") return hermod::cli::run_sub(std::move(args));
    if (command == "bench") return hermod::cli::run_bench(std::move(args));
    if (command == "--help" || command == "help") {
      usage(stdout);
      return 0;
    }
    if (command == "--version") {
      std::puts("hermod-cli " HERMOD_VERSION);
      return 0;
    }
    std::fprintf(stderr, "hermod-cli: unknown command '%s'\n", command.c_str());
    usage(stderr);
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "Error: %s\n", e.what());
    return 1;
  }
}
