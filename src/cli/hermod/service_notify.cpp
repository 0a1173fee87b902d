#include "service_notify.hpp"

#include <time.h>

#include <string>

#include <systemd/sd-daemon.h>

namespace hermod::cli {

namespace {

void send(const std::string& state) {
  // unset_environment = 0: a reload notifies again on the same socket.
  (void)sd_notify(0, state.c_str());
}

}  // namespace

void notify_ready(std::string_view status) {
  send("READY=1\nSTATUS=" + std::string(status));
}

void notify_reloading() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  const auto usec = static_cast<unsigned long long>(now.tv_sec) * 1'000'000ull +
                    static_cast<unsigned long long>(now.tv_nsec) / 1'000ull;
  send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec) + "\nSTATUS=reloading the configuration");
}

void notify_stopping() {
  send("STOPPING=1\nSTATUS=stopping");
}

}  // namespace hermod::cli
