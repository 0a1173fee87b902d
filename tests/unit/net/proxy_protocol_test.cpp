// The PROXY protocol: version 1 lines and version 2 headers (with HAProxy's TLS information)
// parsed to the client's address, incomplete until whole, refused when broken; ProxyStream hands
// the bytes after the header on and reports the forwarded client.
#include "net/proxy_protocol.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>

#include "net/tcp_stream.hpp"

namespace hermod::net {
namespace {

using Status = ProxyHeader::Status;

const std::string kSignature("\r\n\r\n\0\r\nQUIT\n", 12);

std::string be16(std::size_t v) { return {static_cast<char>(v >> 8), static_cast<char>(v & 0xFF)}; }
std::string tlv(std::uint8_t type, const std::string& value) { return std::string(1, static_cast<char>(type)) + be16(value.size()) + value; }

// A version 2 PROXY header for TCP over IPv4 from 203.0.113.7:4711 to 192.0.2.1:1883.
std::string v2(const std::string& tlvs = {}, char command = 0x21, char family = 0x11) {
  const std::string addresses = std::string("\xCB\x00\x71\x07", 4) + std::string("\xC0\x00\x02\x01", 4) + be16(4711) + be16(1883);
  return kSignature + command + family + be16(addresses.size() + tlvs.size()) + addresses + tlvs;
}

TEST(ProxyProtocol, ReadsAVersion1Line) {
  const std::string line = "PROXY TCP4 198.51.100.22 192.0.2.1 35646 1883\r\n";
  const auto h = parse_proxy_header(line + "\x10\x0c");
  ASSERT_EQ(h.status, Status::complete) << h.why;
  EXPECT_EQ(h.size, line.size());
  ASSERT_TRUE(h.source);
  EXPECT_EQ(h.source->address().to_string(), "198.51.100.22");
  EXPECT_EQ(h.source->port(), 35646);
  const auto v6 = parse_proxy_header("PROXY TCP6 2001:db8::1 2001:db8::2 1000 1883\r\n");
  ASSERT_EQ(v6.status, Status::complete) << v6.why;
  EXPECT_EQ(v6.source->address().to_string(), "2001:db8::1");
  const auto unknown = parse_proxy_header("PROXY UNKNOWN whatever\r\n");
  EXPECT_EQ(unknown.status, Status::complete);
  EXPECT_FALSE(unknown.source) << "UNKNOWN keeps the peer's address";
}

TEST(ProxyProtocol, IsIncompleteUntilWhole) {
  const std::string line = "PROXY TCP4 198.51.100.22 192.0.2.1 35646 1883\r\n";
  for (std::size_t n = 0; n < line.size(); ++n) EXPECT_EQ(parse_proxy_header(line.substr(0, n)).status, Status::incomplete) << n;
  const std::string h2 = v2();
  for (std::size_t n = 0; n < h2.size(); ++n) EXPECT_EQ(parse_proxy_header(h2.substr(0, n)).status, Status::incomplete) << n;
}

TEST(ProxyProtocol, RefusesWhatIsNotAHeader) {
  for (const std::string& bad : {std::string("\x10\x0c\x00\x04MQTT", 8), std::string("PROXY TCP4 1.2.3.4\r\n"),
                                std::string("PROXY TCP4 2001:db8::1 1.2.3.4 1 2\r\n"), std::string("PROXY TCP4 1.2.3.4 1.2.3.4 99999 2\r\n"),
                                "PROXY " + std::string(120, 'x'), kSignature + "\x31\x11" + be16(0),
                                kSignature + "\x2F\x11" + be16(0), kSignature + "\x21\x11" + be16(4) + "abcd"}) {
    EXPECT_EQ(parse_proxy_header(bad).status, Status::invalid) << bad;
  }
}

TEST(ProxyProtocol, ReadsVersion2AddressesAndTlsInformation) {
  const auto plain = parse_proxy_header(v2());
  ASSERT_EQ(plain.status, Status::complete) << plain.why;
  EXPECT_EQ(plain.source->address().to_string(), "203.0.113.7");
  EXPECT_EQ(plain.source->port(), 4711);
  EXPECT_FALSE(plain.tls);
  // PP2_TYPE_SSL: client flags SSL|CERT_CONN, verify 0, then version and CN sub-TLVs.
  const std::string ssl = std::string("\x03\x00\x00\x00\x00", 5) + tlv(0x21, "TLSv1.3") + tlv(0x22, "alice");
  const auto tls = parse_proxy_header(v2(tlv(0x04, "noop") + tlv(0x20, ssl)));
  ASSERT_EQ(tls.status, Status::complete) << tls.why;
  EXPECT_TRUE(tls.tls);
  EXPECT_TRUE(tls.certificate_verified);
  EXPECT_EQ(tls.common_name, "alice");
  EXPECT_EQ(tls.tls_version, "TLSv1.3");
  const std::string failed = std::string("\x03\x00\x00\x00\x01", 5) + tlv(0x22, "mallory");
  EXPECT_FALSE(parse_proxy_header(v2(tlv(0x20, failed))).certificate_verified) << "verify != 0: not verified";
  const auto local = parse_proxy_header(v2({}, 0x20));
  EXPECT_EQ(local.status, Status::complete);
  EXPECT_FALSE(local.source) << "LOCAL: the proxy's own connection";
}

TEST(ProxyStream, HandsOnTheBytesAfterTheHeaderAndReportsTheClient) {
  boost::asio::io_context io;
  Poller poller(io);
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
  boost::system::error_code ec;
  ProxyStream s(TcpStream::open(poller, fds[0], {}, ec), poller);
  const std::string ssl = std::string("\x03\x00\x00\x00\x00", 5) + tlv(0x22, "alice");
  const std::string in = v2(tlv(0x20, ssl)) + "MQTT bytes";
  ASSERT_EQ(::write(fds[1], in.data(), in.size()), static_cast<ssize_t>(in.size()));
  char buf[64];
  const auto r = s.try_read(buf, sizeof buf);
  EXPECT_EQ(std::string(buf, r.bytes), "MQTT bytes");
  EXPECT_EQ(s.remote().address().to_string(), "203.0.113.7");
  ASSERT_TRUE(s.peer_identity());
  EXPECT_EQ(s.peer_identity()->common_name, "alice");
  ::close(fds[1]);
}

}  // namespace
}  // namespace hermod::net
