// Helpers shared by the two topic tries (Router, RetainedStore): walking a topic's levels and
// tearing a trie down without recursion. Any thread; stateless.
#pragma once

#include <memory>
#include <string_view>
#include <vector>

namespace hermod::broker {

// Calls f(level) for each '/'-separated level of `s`, empty levels included ("a//b" has three).
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

// Destroys a trie whose nodes own their children in a `children` map of unique_ptrs. Iterative:
// a topic may have tens of thousands of levels, too deep for recursive destructors.
template <typename Node>
void destroy_trie(std::unique_ptr<Node> root) {
  std::vector<std::unique_ptr<Node>> stack;
  stack.push_back(std::move(root));
  while (!stack.empty()) {
    auto n = std::move(stack.back());
    stack.pop_back();
    for (auto& [_, child] : n->children) stack.push_back(std::move(child));
  }
}

}  // namespace hermod::broker
