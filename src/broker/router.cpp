#include "broker/router.hpp"

#include <algorithm>

#include "broker/topic_tree.hpp"
#include "mqtt/topic.hpp"

namespace hermod::broker {

namespace {

template <typename Vec>
bool erase_member(Vec& v, SubscriberRef who) {
  auto it = std::find_if(v.begin(), v.end(), [&](const RouteEntry& e) { return e.who == who; });
  if (it == v.end()) return false;
  *it = v.back();
  v.pop_back();
  return true;
}

}  // namespace

Router::Router() : root_(std::make_unique<Node>()) {}

Router::~Router() { destroy_trie(std::move(root_)); }

bool Router::subscribe(std::string_view filter, const RouteEntry& entry) {
  const auto shared = mqtt::parse_shared_filter(filter);
  Node* node = root_.get();
  for_each_level(shared ? shared->filter : filter, [&node](std::string_view level) {
    auto it = node->children.find(level);
    if (it == node->children.end()) {
      it = node->children.emplace(std::string(level), std::make_unique<Node>()).first;
      if (level == "+") node->plus = it->second.get();
      if (level == "#") node->hash = it->second.get();
    }
    node = it->second.get();
  });
  std::vector<RouteEntry>* list = &node->entries;
  const std::string* key = nullptr;
  if (shared) {
    auto g = std::find_if(node->groups.begin(), node->groups.end(),
                          [&](const auto& grp) { return grp->shared_filter == filter; });
    if (g == node->groups.end()) {
      node->groups.push_back(std::make_unique<SharedGroup>());
      g = std::prev(node->groups.end());
      (*g)->shared_filter = std::string(filter);
    }
    list = &(*g)->members;
    key = &(*g)->shared_filter;
  }
  for (auto& e : *list) {
    if (e.who == entry.who) {
      e = entry;
      e.shared_filter = key;
      return false;
    }
  }
  list->push_back(entry);
  list->back().shared_filter = key;
  ++size_;
  return true;
}

Router::Node* Router::find_node(std::string_view filter) {
  Node* node = root_.get();
  for_each_level(filter, [&node](std::string_view level) {
    if (!node) return;
    auto it = node->children.find(level);
    node = it == node->children.end() ? nullptr : it->second.get();
  });
  return node;
}

bool Router::unsubscribe(std::string_view filter, SubscriberRef who) {
  const auto shared = mqtt::parse_shared_filter(filter);
  const std::string_view plain = shared ? shared->filter : filter;
  Node* node = find_node(plain);
  if (!node) return false;
  if (shared) {
    auto g = std::find_if(node->groups.begin(), node->groups.end(),
                          [&](const auto& grp) { return grp->shared_filter == filter; });
    if (g == node->groups.end() || !erase_member((*g)->members, who)) return false;
    if ((*g)->members.empty()) node->groups.erase(g);
  } else if (!erase_member(node->entries, who)) {
    return false;
  }
  --size_;
  // Prune nodes left without entries, groups or children, deepest first.
  std::vector<std::pair<Node*, std::string_view>> path;
  Node* n = root_.get();
  for_each_level(plain, [&](std::string_view level) {
    path.emplace_back(n, level);
    n = n->children.find(level)->second.get();
  });
  for (auto p = path.rbegin(); p != path.rend(); ++p) {
    auto child = p->first->children.find(p->second);
    const Node* c = child->second.get();
    if (!c->entries.empty() || !c->groups.empty() || !c->children.empty()) break;
    if (p->first->plus == c) p->first->plus = nullptr;
    if (p->first->hash == c) p->first->hash = nullptr;
    p->first->children.erase(child);
  }
  return true;
}

void Router::match(std::string_view topic, std::vector<const RouteEntry*>& out) {
  auto add = [&out](const Node* n) {
    for (const auto& e : n->entries) out.push_back(&e);
    for (const auto& g : n->groups) out.push_back(&g->members[g->next++ % g->members.size()]);
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

const RouteEntry* Router::pick_shared(std::string_view shared_filter, SubscriberRef not_this) {
  const auto shared = mqtt::parse_shared_filter(shared_filter);
  if (!shared) return nullptr;
  Node* node = find_node(shared->filter);
  if (!node) return nullptr;
  for (auto& g : node->groups) {
    if (g->shared_filter != shared_filter) continue;
    for (std::size_t i = 0; i < g->members.size(); ++i) {
      const auto& m = g->members[g->next++ % g->members.size()];
      if (!(m.who == not_this)) return &m;
    }
  }
  return nullptr;
}

}  // namespace hermod::broker
