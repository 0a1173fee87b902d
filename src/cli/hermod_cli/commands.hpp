// The hermod-cli sub-commands. Each takes the arguments after its name, runs to completion on the
// calling thread and returns the process exit code (mosquitto_pub/mosquitto_sub conventions:
// 0 success, 1 error, the CONNACK code for a refused connection, 27 for sub -W timing out).
#pragma once

#include <string>
#include <vector>

namespace hermod::cli {

int run_pub(std::vector<std::string> args);
int run_sub(std::vector<std::string> args);
int run_bench(std::vector<std::string> args);  // bench/bench_command.cpp

}  // namespace hermod::cli
