// Reading mosquitto.conf lines: mosquitto 2.0's syntax rules and include_dir.
#include "broker/config/mosquitto_conf.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <random>

#include "broker/config/config.hpp"
#include "temp_dir.hpp"

namespace hermod::broker::mosquitto {
namespace {

std::vector<ConfLine> parse(const std::string& text, std::vector<Warning>* warnings = nullptr) {
  std::vector<Warning> ignored;
  std::size_t seq = 1;
  return parse_conf_text(text, "m.conf", true, warnings ? *warnings : ignored, seq);
}

TEST(MosquittoConf, CommentsAndBlankLinesAreSkipped) {
  const auto lines = parse("# a comment\n\n   \nport 1883\n#port 1884\n");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].key, "port");
  EXPECT_EQ(lines[0].value, "1883");
  EXPECT_EQ(lines[0].at.line, 4u);
  EXPECT_EQ(lines[0].at.str(), "m.conf:4");
}

TEST(MosquittoConf, CommentNotInFirstColumnIsSkippedWithAWarning) {
  std::vector<Warning> w;
  const auto lines = parse("  # indented\nport 1883\n", &w);
  ASSERT_EQ(lines.size(), 1u);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].at.str(), "m.conf:1");
  EXPECT_NE(w[0].message.find("first character"), std::string::npos) << w[0].str();
}

TEST(MosquittoConf, ValueIsTheRestOfTheLineTrimmed) {
  // mosquitto 2.0 opens "/tmp/a b" for this line: spaces inside a path are kept.
  const auto lines = parse("password_file   /tmp/a b  \t\n");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].value, "/tmp/a b");
}

TEST(MosquittoConf, NoCommentAtTheEndOfALine) {
  const auto lines = parse("password_file /tmp/x # not a comment\n");
  EXPECT_EQ(lines[0].value, "/tmp/x # not a comment");
}

TEST(MosquittoConf, LeadingSpacesBeforeTheKeyAreSkippedButATabIsPartOfIt) {
  const auto lines = parse("   listener 1883\n\tlistener 1884\n");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].key, "listener");
  EXPECT_EQ(lines[1].key, "\tlistener");
}

TEST(MosquittoConf, CrlfLineEndingsAreRead) {
  const auto lines = parse("listener 1883 127.0.0.1\r\nallow_anonymous true\r\n");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1].value, "true");
  EXPECT_EQ(lines[0].words(), (std::vector<std::string>{"1883", "127.0.0.1"}));
}

TEST(MosquittoConf, WordsSplitAtSpaces) {
  const auto lines = parse("listener  8883   10.0.0.1 extra\n");
  EXPECT_EQ(lines[0].words(), (std::vector<std::string>{"8883", "10.0.0.1", "extra"}));
}

TEST(MosquittoConf, IncludeOrderPutsUpperCaseBeforeLowerCaseOfTheSameLetter) {
  // The example of mosquitto.conf(5), and the order Debian's mosquitto 2.0.11 was seen to load
  // a directory of such files in.
  std::vector<std::string> names = {"b.conf", "A.conf", "01.conf", "a.conf", "B.conf", "00.conf", "_x.conf",
                                    "a_b.conf", "aB.conf", "ab.conf", "Ab.conf", "a.b.conf", "Z.conf", "z.conf",
                                    "~t.conf"};
  std::mt19937 shuffle_seed(7);
  std::shuffle(names.begin(), names.end(), shuffle_seed);
  std::sort(names.begin(), names.end(), [](const auto& a, const auto& b) { return include_order_less(a, b); });
  EXPECT_EQ(names, (std::vector<std::string>{"00.conf", "01.conf", "A.conf", "Ab.conf", "a.b.conf", "a.conf",
                                             "aB.conf", "ab.conf", "a_b.conf", "B.conf", "b.conf", "Z.conf",
                                             "z.conf", "_x.conf", "~t.conf"}));
}

TEST(MosquittoConf, IncludeDirReadsConfFilesInOrderAtItsPlace) {
  TempDir dir;
  dir.write("conf.d/b.conf", "max_queued_messages 2\n");
  dir.write("conf.d/A.conf", "\nmax_queued_messages 1\n");
  dir.write("conf.d/notes.txt", "ignored\n");
  dir.write("conf.d/UPPER.CONF", "ignored too: the suffix is case-sensitive\n");
  dir.write("m.conf", "port 1883\ninclude_dir conf.d\nsys_interval 5\n");
  std::vector<Warning> w;
  const auto conf = read_conf_file("m.conf", dir.path(), w);
  ASSERT_EQ(conf.lines.size(), 5u);
  EXPECT_EQ(conf.lines[1].key, "include_dir");
  EXPECT_EQ(conf.lines[2].at.str(), "conf.d/A.conf:2");
  EXPECT_FALSE(conf.lines[2].main_file);
  EXPECT_EQ(conf.lines[3].at.str(), "conf.d/b.conf:1");
  EXPECT_EQ(conf.lines[4].at.str(), "m.conf:3");
  EXPECT_TRUE(std::is_sorted(conf.lines.begin(), conf.lines.end(),
                             [](const auto& a, const auto& b) { return a.at.seq < b.at.seq; }));
  EXPECT_EQ(conf.included, (std::vector<std::string>{"conf.d/A.conf", "conf.d/b.conf"}));
}

TEST(MosquittoConf, IncludeDirInAnIncludedFileIsNotFollowed) {
  TempDir dir;
  dir.write("deeper/x.conf", "port 1\n");
  dir.write("conf.d/a.conf", "include_dir " + dir.path().string() + "/deeper\n");
  dir.write("m.conf", "include_dir conf.d\n");
  std::vector<Warning> w;
  const auto conf = read_conf_file("m.conf", dir.path(), w);
  ASSERT_EQ(conf.lines.size(), 2u);
  EXPECT_EQ(conf.lines[1].key, "include_dir");
  EXPECT_FALSE(conf.lines[1].main_file);
}

TEST(MosquittoConf, MissingIncludeDirIsAnErrorAtItsLine) {
  TempDir dir;
  dir.write("m.conf", "port 1883\ninclude_dir /nonexistent/conf.d\n");
  std::vector<Warning> w;
  try {
    read_conf_file("m.conf", dir.path(), w);
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("m.conf:2: include_dir: cannot open directory /nonexistent/conf.d", 0), 0u)
        << e.what();
  }
}

TEST(MosquittoConf, UnreadableFileIsAnError) {
  TempDir dir;
  std::vector<Warning> w;
  try {
    read_conf_file("missing.conf", dir.path(), w);
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "missing.conf: cannot read: No such file or directory");
  }
}

TEST(MosquittoConf, AbsolutePathResolvesAgainstTheWorkingDirectory) {
  EXPECT_EQ(absolute_path("certs/../server.pem", "/etc/mosquitto"), "/etc/mosquitto/server.pem");
  EXPECT_EQ(absolute_path("/var/lib/mosquitto/", "/ignored"), "/var/lib/mosquitto");
  EXPECT_EQ(absolute_path("", "/x"), "");
}

}  // namespace
}  // namespace hermod::broker::mosquitto
