#include "broker/policy/policy.hpp"

#include "base/log.hpp"
#include "broker/auth/acl_file.hpp"

namespace hermod::broker {

std::shared_ptr<const Policy> make_policy(std::shared_ptr<const Config> config, std::uint64_t generation) {
  auto p = std::make_shared<Policy>();
  p->generation = generation;
  if (!config->auth.acl_file.empty()) {
    p->acl = auth::load_acl_file(config->auth.acl_file, generation);
    logger("auth")->info("ACL file {}: {} rule{}", config->auth.acl_file, p->acl->rule_count(),
                         p->acl->rule_count() == 1 ? "" : "s");
  }
  p->config = std::move(config);
  return p;
}

}  // namespace hermod::broker
