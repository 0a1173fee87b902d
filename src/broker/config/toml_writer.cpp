#include "broker/config/toml_writer.hpp"

#include <cstdio>

namespace hermod::broker {

std::string toml_quote(std::string_view s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\t': out += "\\t"; break;
      case '\n': out += "\\n"; break;
      case '\f': out += "\\f"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20 || c == 0x7F) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04X", c);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  return out + "\"";
}

std::string toml_comment(std::string_view s) {
  std::string out(s);
  for (char& ch : out) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && ch != '\t') || c == 0x7F) ch = '?';
  }
  return out;
}

void TomlTable::render(std::ostream& out) const {
  if (entries_.empty()) return;
  out << "\n" << header_ << "\n";
  for (const auto& c : comments_) out << "# " << c << "\n";
  for (const auto& [key, value] : entries_) out << key << " = " << value << "\n";
}

}  // namespace hermod::broker
