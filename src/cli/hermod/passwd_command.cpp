#include "passwd_command.hpp"

#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "broker/auth/password_file.hpp"
#include "broker/config/config.hpp"

namespace hermod::cli {

namespace {

namespace auth = hermod::broker::auth;

struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string strip_newline(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

// One line from the terminal, typed without echo.
std::string prompt_hidden(const char* prompt) {
  std::cerr << prompt << std::flush;
  termios old{};
  const bool tty = tcgetattr(STDIN_FILENO, &old) == 0;
  if (tty) {
    termios quiet = old;
    quiet.c_lflag &= static_cast<tcflag_t>(~ECHO);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  std::string line;
  const bool got = static_cast<bool>(std::getline(std::cin, line));
  if (tty) tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
  std::cerr << "\n";
  if (!got) throw Failure("no password given");
  return strip_newline(line);
}

std::string read_password(const PasswdOptions& o) {
  if (o.password) return *o.password;
  if (isatty(STDIN_FILENO)) {
    std::string first = prompt_hidden("Password: ");
    if (prompt_hidden("Password again: ") != first) throw Failure("the passwords differ");
    return first;
  }
  // A script: the first line of standard input.
  std::string line;
  if (!std::getline(std::cin, line)) throw Failure("no password on standard input");
  return strip_newline(line);
}

std::string read_file(const std::string& path, bool& exists) {
  std::ifstream in(path, std::ios::binary);
  exists = static_cast<bool>(in);
  if (!exists) {
    if (std::filesystem::exists(path)) throw Failure(path + ": cannot read: " + std::strerror(errno));
    return {};
  }
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

// Replaces `path` by `text` in one rename, so a broker reloading on SIGHUP never reads half a
// file. A new file is readable by its owner only; an existing one keeps its permissions.
void write_file(const std::string& path, const std::string& text, bool exists) {
  struct stat st {};
  const mode_t mode = exists && ::stat(path.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0600;
  const std::string tmp = path + ".tmp" + std::to_string(::getpid());
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw Failure(tmp + ": cannot create: " + std::strerror(errno));
  ::fchmod(::fileno(f), mode);
  const bool written = std::fwrite(text.data(), 1, text.size(), f) == text.size() && std::fflush(f) == 0 &&
                       ::fsync(::fileno(f)) == 0;
  const int error = errno;
  if (std::fclose(f) != 0 || !written) {
    std::remove(tmp.c_str());
    throw Failure(tmp + ": cannot write: " + std::strerror(error));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    std::remove(tmp.c_str());
    throw Failure(path + ": cannot replace: " + std::strerror(e));
  }
}

// Prints, one line each: the users hashed, and those whose Mosquitto hashes stay.
void report(const std::string& file, const auth::PasswordFileUpgrade& u) {
  const auto names = [](const std::vector<std::string>& users) {
    std::string out;
    for (const auto& user : users) out += (out.empty() ? "" : ", ") + user;
    return out;
  };
  if (u.hashed.empty()) {
    std::cout << "no plain-text passwords in " << file << ", left unchanged\n";
  } else {
    std::cout << "hashed the plain-text password" << (u.hashed.size() == 1 ? "" : "s") << " of " << names(u.hashed)
              << " in " << file << "\n";
  }
  if (!u.mosquitto_hashes.empty()) {
    std::cout << "kept the Mosquitto password hash" << (u.mosquitto_hashes.size() == 1 ? "" : "es") << " of "
              << names(u.mosquitto_hashes)
              << ": such hashes serve plain-password logins but not SCRAM-SHA-256, and cannot be converted "
                 "without the password; `hermod passwd "
              << file << " USER` sets a new one\n";
  }
}

int run_upgrade(const PasswdOptions& o) {
  bool exists = false;
  const std::string text = read_file(o.file, exists);
  if (!exists) throw Failure(o.file + ": no such file");
  const auto upgraded =
      auth::upgrade_password_file(text, o.file, o.iterations ? o.iterations : auth::kDefaultIterations);
  if (!upgraded.hashed.empty()) write_file(o.file, upgraded.text, exists);
  report(o.file, upgraded);
  return 0;
}

}  // namespace

CLI::App* add_passwd_command(CLI::App& app, PasswdOptions& o) {
  auto* cmd = app.add_subcommand(
      "passwd", "add, change or remove a user of a password file, or hash its plain-text passwords with -U "
                "(see docs/security.md)");
  cmd->add_option("file", o.file, "the password file (created if missing)")->required();
  cmd->add_option("user", o.user, "the user name (none with -U)");
  auto* password = cmd->add_option("-p,--password", o.password,
                                    "the password (default: read from standard input, asked twice on a terminal)");
  auto* remove = cmd->add_flag("-D,--delete", o.remove, "remove the user");
  cmd->add_flag("-U,--upgrade", o.upgrade,
                "hash every plain-text `user:password` line of FILE into a SCRAM-SHA-256 entry, in place; other "
                "entries stay as they are")
      ->excludes(password)
      ->excludes(remove);
  cmd->add_option("--iterations", o.iterations,
                  "PBKDF2 iterations (default " + std::to_string(auth::kDefaultIterations) +
                      "; more resists password guessing longer and costs more per CONNECT)")
      ->check(CLI::Range(auth::kMinIterations, auth::kMaxIterations));
  return cmd;
}

int run_passwd(const PasswdOptions& o) {
  try {
    if (o.upgrade) {
      if (!o.user.empty()) throw Failure("-U upgrades a whole file: no user name with it");
      return run_upgrade(o);
    }
    if (o.user.empty()) throw Failure("a user name is required (or -U to hash a file's plain-text passwords)");
    if (auto problem = auth::username_problem(o.user); !problem.empty()) throw Failure(problem);
    bool exists = false;
    const std::string text = read_file(o.file, exists);
    std::optional<auth::ScramCredential> credential;
    if (!o.remove) {
      const std::string password = read_password(o);
      if (password.empty()) throw Failure("the password is empty");
      credential = auth::make_credential(password, o.iterations ? o.iterations : auth::kDefaultIterations);
      if (!credential) throw Failure("cannot derive the credential: OpenSSL failed");
    }
    bool found = false;
    const std::string edited = auth::edit_password_file(text, o.file, o.user, credential, found);
    if (o.remove && !found) throw Failure(o.file + ": no user \"" + o.user + "\"");
    write_file(o.file, edited, exists);
    std::cout << (o.remove ? "removed" : found ? "updated" : "added") << " user " << o.user << " in " << o.file
              << "\n";
    return 0;
  } catch (const hermod::broker::ConfigError& e) {
    std::cerr << "hermod passwd: " << e.what() << "\n";
  } catch (const std::exception& e) {
    std::cerr << "hermod passwd: " << e.what() << "\n";
  }
  return 1;
}

}  // namespace hermod::cli
