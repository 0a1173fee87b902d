// The [[listeners]] tables of `hermod convert-config`: each mosquitto listener (the explicit
// ones, the default listener, or "local only" mode's two) made into a Hermod listener, or left
// out with a warning when Hermod cannot keep its clients out as mosquitto did (the first rule
// of mosquitto_convert.hpp). No I/O; no state; any thread.
#pragma once

#include <string>
#include <vector>

#include "broker/config/mosquitto_settings.hpp"
#include "broker/config/toml_writer.hpp"

namespace hermod::broker::mosquitto {

// One Hermod listener made from a mosquitto one.
struct CarriedListener {
  const Listener* from;  // points into the Settings passed to convert_listeners
  TomlTable table{"[[listeners]]"};
  std::string bind;
  bool every_address = false;  // mosquitto listened on every IPv4 and IPv6 address
};

// The listeners of `s`, in mosquitto's order (the default listener first). Warnings for keys not
// carried over go to `warnings`. Throws ConfigError for a host name where Hermod needs an
// address, for listeners mosquitto could not open together (one port, overlapping addresses),
// and when no listener is left. The result points into `s`, which must outlive it.
std::vector<CarriedListener> convert_listeners(const Settings& s, std::vector<Warning>& warnings);

}  // namespace hermod::broker::mosquitto
