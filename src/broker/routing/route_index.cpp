#include "broker/routing/route_index.hpp"

#include <memory>

#include <boost/asio/post.hpp>

namespace hermod::broker {

void RouteIndex::apply(const std::vector<SubscriptionChange>& changes) {
  for (const auto& c : changes) {
    if (c.add) {
      router_.subscribe(c.filter, c.entry);
    } else {
      router_.unsubscribe(c.filter, c.entry.who);
    }
  }
}

void RouteIndex::change(std::vector<SubscriptionChange> changes, std::function<void()> done) {
  apply(changes);
  const auto n = all_ ? static_cast<std::uint32_t>(all_->size()) : 1u;
  if (n == 1 || changes.empty()) {
    done();
    return;
  }
  auto shared = std::make_shared<const std::vector<SubscriptionChange>>(std::move(changes));
  // Touched only on this thread: each replica's acknowledgement is posted back here. The
  // completion (which may hold the last reference to a connection) is moved along, never
  // copied, so it is run and destroyed here and not on a replica's thread.
  auto remaining = std::make_shared<std::uint32_t>(n - 1);
  auto finish = std::make_shared<std::function<void()>>(std::move(done));
  boost::asio::io_context& home = *(*io_)[worker_];
  for (std::uint32_t w = 0; w < n; ++w) {
    if (w == worker_) continue;
    RouteIndex& other = *(*all_)[w];
    boost::asio::post(*(*io_)[w], [&other, &home, shared, remaining, finish]() mutable {
      other.apply(*shared);
      boost::asio::post(home, [remaining = std::move(remaining), finish = std::move(finish)] {
        if (--*remaining == 0) {
          (*finish)();
          *finish = nullptr;
        }
      });
    });
  }
}

}  // namespace hermod::broker
