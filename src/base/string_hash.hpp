// A transparent string hash, so unordered containers keyed by std::string can be searched with a
// std::string_view without building a string. Any thread; stateless.
#pragma once

#include <functional>
#include <string_view>

namespace hermod {

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

}  // namespace hermod
