#include "http/embedded_file.hpp"

#include <algorithm>

namespace hermod::http {

const EmbeddedFile* find_file(std::span<const EmbeddedFile> files, std::string_view path) {
  const auto it = std::lower_bound(files.begin(), files.end(), path,
                                   [](const EmbeddedFile& f, std::string_view p) { return f.path < p; });
  return it != files.end() && it->path == path ? &*it : nullptr;
}

std::string_view content_type_of(std::string_view path) {
  struct Kind {
    std::string_view extension;
    std::string_view type;
  };
  static constexpr Kind kKinds[] = {
      {".html", "text/html; charset=utf-8"},   {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
      {".svg", "image/svg+xml"},               {".png", "image/png"},
      {".ico", "image/x-icon"},                {".json", "application/json"},
      {".txt", "text/plain; charset=utf-8"},
  };
  for (const auto& k : kKinds) {
    if (path.size() >= k.extension.size() && path.substr(path.size() - k.extension.size()) == k.extension) {
      return k.type;
    }
  }
  return "application/octet-stream";
}

}  // namespace hermod::http
