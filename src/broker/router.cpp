#include "broker/router.hpp"

#include <algorithm>

namespace hermod::broker {

namespace {

// Calls f(level) for each '/'-separated level of `s`, including empty ones.
template <typename F>
void for_each_level(std::string_view s, F&& f) {
  std::size_t start = 0;
  while (true) {
    const auto end = s.find('/', start);
    if (end == std::string_view::npos) {
      f(s.substr(start));
      return;
    }
    f(s.substr(start, end - start));
    start = end + 1;
  }
}

}  // namespace

Router::Router() : root_(std::make_unique<Node>()) {}
Router::~Router() {
  // Iterative teardown: a deep filter would overflow the stack in recursive destructors.
  std::vector<std::unique_ptr<Node>> stack;
  stack.push_back(std::move(root_));
  while (!stack.empty()) {
    auto n = std::move(stack.back());
    stack.pop_back();
    for (auto& [_, child] : n->children) stack.push_back(std::move(child));
  }
}

bool Router::subscribe(std::string_view filter, const RouteEntry& entry) {
  Node* node = root_.get();
  for_each_level(filter, [&node](std::string_view level) {
    auto it = node->children.find(level);
    if (it == node->children.end()) {
      it = node->children.emplace(std::string(level), std::make_unique<Node>()).first;
      if (level == "+") node->plus = it->second.get();
      if (level == "#") node->hash = it->second.get();
    }
    node = it->second.get();
  });
  for (auto& e : node->entries) {
    if (e.who == entry.who) {
      e.options = entry.options;
      return false;
    }
  }
  node->entries.push_back(entry);
  ++size_;
  return true;
}

bool Router::unsubscribe(std::string_view filter, SubscriberRef who) {
  std::vector<std::pair<Node*, std::string_view>> path;  // (parent, level) to prune on the way back
  Node* node = root_.get();
  bool found = true;
  for_each_level(filter, [&](std::string_view level) {
    if (!found) return;
    auto it = node->children.find(level);
    if (it == node->children.end()) {
      found = false;
      return;
    }
    path.emplace_back(node, level);
    node = it->second.get();
  });
  if (!found) return false;
  auto& entries = node->entries;
  auto it = std::find_if(entries.begin(), entries.end(), [&](const RouteEntry& e) { return e.who == who; });
  if (it == entries.end()) return false;
  *it = entries.back();
  entries.pop_back();
  --size_;
  // Prune nodes left without entries or children, deepest first.
  for (auto p = path.rbegin(); p != path.rend(); ++p) {
    auto child = p->first->children.find(p->second);
    const Node* c = child->second.get();
    if (!c->entries.empty() || !c->children.empty()) break;
    if (p->first->plus == c) p->first->plus = nullptr;
    if (p->first->hash == c) p->first->hash = nullptr;
    p->first->children.erase(child);
  }
  return true;
}

void Router::match(std::string_view topic, std::vector<const RouteEntry*>& out) const {
  auto add = [&out](const Node* n) {
    for (const auto& e : n->entries) out.push_back(&e);
  };
  frontier_.clear();
  frontier_.push_back(root_.get());
  // Wildcards at the first level do not match topics that start with '$' [MQTT-4.7.2-1].
  bool first = true;
  const bool dollar = !topic.empty() && topic[0] == '$';
  for_each_level(topic, [&](std::string_view level) {
    next_.clear();
    for (const Node* n : frontier_) {
      const bool wild_ok = !(first && dollar);
      if (wild_ok && n->hash) add(n->hash);  // '#' matches this level and everything below
      auto it = n->children.find(level);
      if (it != n->children.end()) next_.push_back(it->second.get());
      if (wild_ok && n->plus) next_.push_back(n->plus);
    }
    frontier_.swap(next_);
    first = false;
  });
  for (const Node* n : frontier_) {
    add(n);
    if (n->hash) add(n->hash);  // "a/#" also matches "a"
  }
}

}  // namespace hermod::broker
