// A file built into the broker's binary (cmake/embed_files.cmake writes the tables): the
// dashboard's pages, scripts and styles. The tables are immutable and may be read from any thread.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

namespace hermod::http {

struct EmbeddedFile {
  std::string_view path;  // relative to the embedded folder: "index.html", "js/app.js"
  std::string_view etag;  // 16 hex digits of the content's SHA-256, without quotes
  std::string_view body;
};

// The dashboard's files (src/http/dashboard/), sorted by path.
extern const EmbeddedFile kDashboardFiles[];
extern const std::size_t kDashboardFilesCount;

inline std::span<const EmbeddedFile> dashboard_files() { return {kDashboardFiles, kDashboardFilesCount}; }

// The file at `path` in `files`, or null.
const EmbeddedFile* find_file(std::span<const EmbeddedFile> files, std::string_view path);

// The Content-Type for a file name by its extension ("application/octet-stream" if unknown).
std::string_view content_type_of(std::string_view path);

}  // namespace hermod::http
