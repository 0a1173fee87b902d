// The rate-limited log lines (base/rate_limited_log.hpp) of every kind of refusal that clients
// or addresses can cause as often as they like: one line per interval per kind, never one per
// attempt. Shared by all workers through Services; worker 0's sweep writes the summaries.
// Threads: any (each log has its own mutex).
#pragma once

#include "base/clock.hpp"
#include "base/rate_limited_log.hpp"
#include "broker/limits/admission_table.hpp"

namespace hermod::broker {

class RefusalLogs {
  const Clock& clock_;  // first: the logs below are built with it

 public:
  explicit RefusalLogs(const Clock& clock) : clock_(clock) {}

  RateLimitedLog denied{clock_, {"limits", "refused", "connection", "from", "listener deny list"}};
  RateLimitedLog not_allowed{clock_, {"limits", "refused", "connection", "from", "not in the listener allow list"}};
  RateLimitedLog listener_full{clock_, {"limits", "refused", "connection", "from", "listener max_connections"}};
  RateLimitedLog address_full{clock_, {"limits", "refused", "connection", "from", "max_connections_per_address"}};
  RateLimitedLog connect_rate{clock_, {"limits", "refused", "connection", "from", "connect_rate_per_address"}};
  RateLimitedLog login_failures{clock_, {"limits", "delayed the answer to", "failed login", "from", "login_failure_delay_ms"}};
  RateLimitedLog banned{clock_, {"limits", "refused", "CONNECT", "of client id", "flapping ban"}};
  RateLimitedLog untrusted_proxy{clock_, {"proxy", "refused", "connection", "from", "not a trusted proxy of the listener"}};
  RateLimitedLog bad_proxy_header{clock_, {"proxy", "closed", "connection", "from", "no valid PROXY protocol header"}};
  RateLimitedLog tls_failures{clock_, {"tls", "closed", "connection", "from", "failed TLS handshake"}};

  RateLimitedLog& of(AdmissionRefusal r) {
    switch (r) {
      case AdmissionRefusal::denied: return denied;
      case AdmissionRefusal::not_allowed: return not_allowed;
      case AdmissionRefusal::listener_full: return listener_full;
      case AdmissionRefusal::address_full: return address_full;
      case AdmissionRefusal::none:
      case AdmissionRefusal::connect_rate: break;
    }
    return connect_rate;
  }
  void flush() {
    for (auto* l : {&denied, &not_allowed, &listener_full, &address_full, &connect_rate, &login_failures, &banned,
                    &untrusted_proxy, &bad_proxy_header, &tls_failures}) {
      l->flush();
    }
  }
};

}  // namespace hermod::broker
