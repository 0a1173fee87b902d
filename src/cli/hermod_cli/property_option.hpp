// `-D command property value [value]`: MQTT 5 properties on the command line, named as
// mosquitto_pub/mosquitto_sub name them (`-D publish user-property k v`,
// `-D connect session-expiry-interval 3600`). Main thread only; pure parsing.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "mqtt/properties.hpp"

namespace hermod::cli {

// The property lists a command line can fill, one per packet that carries them.
struct CommandProperties {
  mqtt::Properties connect;
  mqtt::Properties publish;
  mqtt::Properties subscribe;
  mqtt::Properties unsubscribe;
  mqtt::Properties disconnect;
  mqtt::Properties will;
  bool any = false;
};

// Takes every `-D`/`--property` group out of `args` (they have 3 or 4 words, which an ordinary
// option parser cannot group) and applies it to `out`. Throws std::invalid_argument naming the
// bad command, property or value.
void extract_properties(std::vector<std::string>& args, CommandProperties& out);

// Applies one property: `command` is connect, publish, subscribe, unsubscribe, disconnect or will.
void apply_property(CommandProperties& out, std::string_view command, std::string_view name,
                    std::string_view value, std::string_view value2 = {});

}  // namespace hermod::cli
