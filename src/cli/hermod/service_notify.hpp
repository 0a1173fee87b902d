// The broker's messages to its service manager: systemd's notification protocol (sd_notify(3)),
// for a unit with Type=notify (packaging/hermod.service). READY=1 tells systemd that the
// listeners accept and the store is recovered, so units ordered after hermod start only then;
// RELOADING=1 ... READY=1 brackets a SIGHUP reload; STOPPING=1 starts the shutdown; STATUS= is
// the line `systemctl status hermod` shows.
// Every function is a no-op when NOTIFY_SOCKET is unset (the broker started by hand or by a test)
// and ignores a failure to send: telling systemd is never a reason to stop serving.
// Called from the main thread only.
#pragma once

#include <string_view>

namespace hermod::cli {

// READY=1 with a STATUS= line.
void notify_ready(std::string_view status);

// RELOADING=1 with MONOTONIC_USEC= (now on CLOCK_MONOTONIC, as systemd asks) and a STATUS= line;
// follow it with notify_ready when the reload is done.
void notify_reloading();

// STOPPING=1 with a STATUS= line.
void notify_stopping();

}  // namespace hermod::cli
