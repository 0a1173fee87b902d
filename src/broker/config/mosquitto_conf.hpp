// Reading a mosquitto.conf (Mosquitto 2.0, mosquitto.conf(5)) as lines, for `hermod
// convert-config`: each line's key and value, where it came from, and the files of every
// `include_dir` in the order mosquitto reads them. Only the syntax: what a key means is
// mosquitto_settings.hpp's business. The only I/O is reading the files and listing the
// include_dir directories. No state; any thread.
//
// The rules, as mosquitto 2.0.11 applies them (checked against Debian's binary):
//   * a line whose very first character is '#' is a comment; so is an empty line;
//   * the key runs to the first space; spaces before it are skipped, a tab is part of it;
//   * the value is the rest of the line, without the spaces before it and the white space after
//     it (so a path may contain spaces); a trailing "\r" of a CRLF file is dropped;
//   * there are no comments at the end of a line: "password_file /a # b" names "/a # b";
//   * `include_dir DIR` (only in the main file; mosquitto ignores it in an included one) reads
//     every regular file in DIR whose name ends in ".conf", in include_order_less's order, at
//     the place of the include_dir line. A relative DIR is relative to the working directory.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace hermod::broker::mosquitto {

// Where a configuration line came from. `seq` numbers the lines of a conversion in the order
// they were read (across included files), so warnings can be put in that order.
struct Origin {
  std::string file;
  std::size_t line = 0;  // 1-based; 0: not from a line (a default, or the file as a whole)
  std::size_t seq = 0;

  // "file:line", or "file" when line is 0.
  std::string str() const;
};

// One configuration line: `key value`.
struct ConfLine {
  Origin at;
  std::string key;
  std::string value;  // the rest of the line, trimmed; "" if there is none
  bool main_file = true;

  // The value's words, split at spaces (mosquitto's listener and numeric keys read those).
  std::vector<std::string> words() const;
};

// Something the conversion does not carry over, and why: printed as "file:line: key: message".
struct Warning {
  Origin at;
  std::string key;
  std::string message;

  std::string str() const;
};

// The lines of `text`, which is the file `file`. Lines that mosquitto itself would refuse but
// that need not stop a conversion (a '#' comment indented by spaces) are skipped with a
// warning. `seq` is the reading counter: each line (and warning) read takes the next number.
std::vector<ConfLine> parse_conf_text(std::string_view text, const std::string& file, bool main_file,
                                      std::vector<Warning>& warnings, std::size_t& seq);

// Mosquitto's order of include_dir files: byte by byte, letters compared as upper case, and at
// the first difference in case only the upper-case letter first ("A.conf" < "a.conf" <
// "B.conf"; "Ab.conf" < "a.b.conf"). Shorter names first when one is a prefix of the other.
bool include_order_less(std::string_view a, std::string_view b);

// The `*.conf` files of `dir`, in include_order_less order, as paths "dir/name" (dir as given).
// Throws ConfigError at `at` if the directory cannot be listed or one of them is a directory.
std::vector<std::string> include_dir_files(const std::string& dir, const std::filesystem::path& cwd,
                                           const Origin& at);

// A configuration file as read: its lines, those of its include_dir files after each
// include_dir line (which is kept, so the reader sees where they come from), and the files read.
struct ConfText {
  std::string main_file;              // as given
  std::vector<ConfLine> lines;
  std::vector<std::string> included;  // the include_dir files, in the order read
};

// Reads the configuration file `path`. Relative paths (`path` itself and include_dir
// directories) are relative to `cwd`. Throws ConfigError naming the file (and line) if a file
// cannot be read.
ConfText read_conf_file(const std::string& path, const std::filesystem::path& cwd, std::vector<Warning>& warnings);

// Like read_conf_file, for a main file whose text is already read.
ConfText read_conf_text(std::string_view text, const std::string& path, const std::filesystem::path& cwd,
                        std::vector<Warning>& warnings);

// `path` made absolute against `cwd` and normalised ("a/../b" → "b"); "" stays "".
std::string absolute_path(const std::string& path, const std::filesystem::path& cwd);

}  // namespace hermod::broker::mosquitto
