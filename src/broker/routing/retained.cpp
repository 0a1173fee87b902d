#include "broker/routing/retained.hpp"

#include "broker/routing/topic_tree.hpp"

namespace hermod::broker {

namespace {
std::vector<std::string_view> split_levels(std::string_view s) {
  std::vector<std::string_view> levels;
  for_each_level(s, [&levels](std::string_view level) { levels.push_back(level); });
  return levels;
}
}  // namespace

LocalRetainedStore::LocalRetainedStore() : root_(std::make_unique<Node>()) {}
LocalRetainedStore::~LocalRetainedStore() { destroy_trie(std::move(root_)); }

void LocalRetainedStore::set(const MessagePtr& msg) {
  const auto levels = split_levels(msg->topic());
  std::lock_guard lock(mutex_);
  if (msg->payload().empty()) {
    std::vector<std::pair<Node*, std::string>> path;
    Node* node = root_.get();
    for (auto level : levels) {
      auto it = node->children.find(std::string(level));
      if (it == node->children.end()) return;
      path.emplace_back(node, std::string(level));
      node = it->second.get();
    }
    if (!node->message) return;
    node->message.reset();
    --count_;
    for (auto p = path.rbegin(); p != path.rend(); ++p) {
      auto it = p->first->children.find(p->second);
      if (it->second->message || !it->second->children.empty()) break;
      p->first->children.erase(it);
    }
    return;
  }
  Node* node = root_.get();
  for (auto level : levels) {
    auto& child = node->children[std::string(level)];
    if (!child) child = std::make_unique<Node>();
    node = child.get();
  }
  if (!node->message) ++count_;
  node->message = msg;
}

void LocalRetainedStore::collect_all(const Node& n, std::vector<MessagePtr>& out) {
  // Iterative: a topic may have thousands of levels, too deep for recursion.
  std::vector<const Node*> stack{&n};
  while (!stack.empty()) {
    const Node* node = stack.back();
    stack.pop_back();
    if (node->message) out.push_back(node->message);
    for (const auto& [_, child] : node->children) stack.push_back(child.get());
  }
}

void LocalRetainedStore::match(std::string_view filter, std::vector<MessagePtr>& out) const {
  const auto levels = split_levels(filter);
  std::lock_guard lock(mutex_);
  // Breadth-first over the filter's levels.
  std::vector<const Node*> frontier{root_.get()};
  std::vector<const Node*> next;
  for (std::size_t i = 0; i < levels.size(); ++i) {
    const auto level = levels[i];
    next.clear();
    for (const Node* n : frontier) {
      // Wildcards at the first level skip topics starting with '$' [MQTT-4.7.2-1].
      auto skip = [&](const std::string& key) { return i == 0 && !key.empty() && key[0] == '$'; };
      if (level == "#") {
        if (n->message && n != root_.get()) out.push_back(n->message);  // "a/#" matches "a"
        for (const auto& [key, child] : n->children) {
          if (!skip(key)) collect_all(*child, out);
        }
      } else if (level == "+") {
        for (const auto& [key, child] : n->children) {
          if (!skip(key)) next.push_back(child.get());
        }
      } else {
        auto it = n->children.find(std::string(level));
        if (it != n->children.end()) next.push_back(it->second.get());
      }
    }
    frontier.swap(next);
  }
  for (const Node* n : frontier) {
    if (n->message) out.push_back(n->message);
  }
}

std::size_t LocalRetainedStore::size() const {
  std::lock_guard lock(mutex_);
  return count_;
}

}  // namespace hermod::broker
