#include "net/proxy_protocol.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <vector>

#include "base/log.hpp"
#include "net/endpoint_text.hpp"

namespace hermod::net {

namespace ip = asio::ip;

namespace {

constexpr std::string_view kV1 = "PROXY ";
constexpr std::string_view kV2{"\r\n\r\n\0\r\nQUIT\n", 12};
constexpr std::size_t kV1Max = 107;
// Bytes read per step of the header: enough for any v1 header and a v2 one with a certificate CN.
constexpr std::size_t kReadChunk = 512;

// Version 2's TLV types and TLS flags (the HAProxy specification, section 2.2).
constexpr std::uint8_t kTypeSsl = 0x20;
constexpr std::uint8_t kSubtypeSslVersion = 0x21;
constexpr std::uint8_t kSubtypeSslCn = 0x22;
constexpr std::uint8_t kClientSsl = 0x01;
constexpr std::uint8_t kClientCertConn = 0x02;
constexpr std::uint8_t kClientCertSess = 0x04;  // presented on an earlier connection of a resumed session

ProxyHeader invalid(std::string why) {
  ProxyHeader h;
  h.status = ProxyHeader::Status::invalid;
  h.why = std::move(why);
  return h;
}

bool is_prefix(std::string_view bytes, std::string_view of) {
  return of.substr(0, std::min(bytes.size(), of.size())) == bytes.substr(0, std::min(bytes.size(), of.size()));
}

std::vector<std::string_view> split(std::string_view s) {
  std::vector<std::string_view> out;
  while (!s.empty()) {
    const auto space = s.find(' ');
    out.push_back(s.substr(0, space));
    if (space == std::string_view::npos) break;
    s.remove_prefix(space + 1);
  }
  return out;
}

ProxyHeader parse_v1(std::string_view bytes) {
  const auto end = bytes.find("\r\n");
  if (end == std::string_view::npos) {
    if (bytes.size() >= kV1Max) return invalid("PROXY v1 line longer than 107 bytes");
    return {};
  }
  if (end + 2 > kV1Max) return invalid("PROXY v1 line longer than 107 bytes");
  ProxyHeader h;
  h.status = ProxyHeader::Status::complete;
  h.size = end + 2;
  const auto words = split(bytes.substr(kV1.size(), end - kV1.size()));
  if (!words.empty() && words[0] == "UNKNOWN") return h;  // the rest of the line is to be ignored
  if (words.size() != 5 || (words[0] != "TCP4" && words[0] != "TCP6")) return invalid("malformed PROXY v1 line");
  boost::system::error_code ec;
  const auto address = ip::make_address(std::string(words[1]), ec);
  if (ec || address.is_v4() != (words[0] == "TCP4")) return invalid("bad source address in PROXY v1 line");
  unsigned port = 0;
  const auto p = words[3];
  const auto [ptr, err] = std::from_chars(p.data(), p.data() + p.size(), port);
  if (err != std::errc() || ptr != p.data() + p.size() || port > 65535 || p.empty()) {
    return invalid("bad source port in PROXY v1 line");
  }
  h.source = ip::tcp::endpoint(address, static_cast<std::uint16_t>(port));
  return h;
}

std::uint16_t be16(const unsigned char* p) { return static_cast<std::uint16_t>((p[0] << 8) | p[1]); }

// The TLS information of a PP2_TYPE_SSL value.
void read_ssl(std::string_view v, ProxyHeader& h) {
  if (v.size() < 5) return;
  const auto* p = reinterpret_cast<const unsigned char*>(v.data());
  const std::uint8_t client = p[0];
  const std::uint32_t verify = (std::uint32_t{p[1]} << 24) | (std::uint32_t{p[2]} << 16) | (p[3] << 8) | p[4];
  h.tls = (client & kClientSsl) != 0;
  h.certificate_verified = h.tls && (client & (kClientCertConn | kClientCertSess)) != 0 && verify == 0;
  for (std::size_t at = 5; at + 3 <= v.size();) {
    const std::uint8_t type = p[at];
    const std::size_t len = be16(p + at + 1);
    if (at + 3 + len > v.size()) break;
    const auto value = v.substr(at + 3, len);
    if (type == kSubtypeSslCn) h.common_name = std::string(value);
    if (type == kSubtypeSslVersion) h.tls_version = std::string(value);
    at += 3 + len;
  }
}

ProxyHeader parse_v2(std::string_view bytes) {
  if (bytes.size() < 16) return {};
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t length = be16(p + 14);
  if (bytes.size() < 16 + length) return {};
  if ((p[12] & 0xF0) != 0x20) return invalid("PROXY v2 header with another version");
  const int command = p[12] & 0x0F;
  if (command > 1) return invalid("PROXY v2 header with an unknown command");
  ProxyHeader h;
  h.status = ProxyHeader::Status::complete;
  h.size = 16 + length;
  const std::uint8_t family = p[13];
  std::size_t addresses = 0;
  if (family == 0x11) addresses = 12;       // TCP over IPv4
  else if (family == 0x21) addresses = 36;  // TCP over IPv6
  if (length < addresses) return invalid("PROXY v2 header shorter than its addresses");
  if (command == 0) return h;  // LOCAL: the proxy's own connection (a health check)
  if (family == 0x11) {
    ip::address_v4::bytes_type a;
    std::memcpy(a.data(), p + 16, 4);
    h.source = ip::tcp::endpoint(ip::address_v4(a), be16(p + 24));
  } else if (family == 0x21) {
    ip::address_v6::bytes_type a;
    std::memcpy(a.data(), p + 16, 16);
    h.source = ip::tcp::endpoint(ip::address_v6(a), be16(p + 48));
  }
  // Other families (UNSPEC, UDP, unix sockets): no usable address; the peer's stays.
  for (std::size_t at = 16 + addresses; at + 3 <= 16 + length;) {
    const std::uint8_t type = p[at];
    const std::size_t len = be16(p + at + 1);
    if (at + 3 + len > 16 + length) return invalid("PROXY v2 TLV past the header's end");
    if (type == kTypeSsl) read_ssl(bytes.substr(at + 3, len), h);
    at += 3 + len;
  }
  return h;
}

}  // namespace

ProxyHeader parse_proxy_header(std::string_view bytes) {
  if (bytes.empty()) return {};
  if (is_prefix(bytes, kV1)) return bytes.size() < kV1.size() ? ProxyHeader{} : parse_v1(bytes);
  if (is_prefix(bytes, kV2)) return bytes.size() < kV2.size() ? ProxyHeader{} : parse_v2(bytes);
  return invalid("no PROXY protocol header (is the proxy configured to send one?)");
}

// -------------------------------------------------------------------------------- ProxyStream

ProxyStream::ProxyStream(std::unique_ptr<Stream> inner, Poller& poller, RateLimitedLog* refusals)
    : inner_(std::move(inner)), poller_(poller), remote_(inner_->remote()), refusals_(refusals) {
  inner_->set_events(this);
  token_ = poller_.add_target(*this);
}

ProxyStream::ProxyStream(std::unique_ptr<Stream> inner, Poller& poller, State state)
    : inner_(std::move(inner)),
      poller_(poller),
      remote_(state.remote),
      identity_(std::move(state.identity)),
      buffer_(std::move(state.pending)),
      header_done_(true) {
  inner_->set_events(this);
  token_ = poller_.add_target(*this);
}

ProxyStream::~ProxyStream() { close(); }

std::optional<IoResult> ProxyStream::read_header() {
  if (header_done_) return std::nullopt;
  if (closed_) return IoResult{0, Want::nothing, true, asio::error::make_error_code(asio::error::bad_descriptor)};
  for (;;) {
    char chunk[kReadChunk];
    const auto r = inner_->try_read(chunk, sizeof chunk);
    if (r.bytes == 0) return r;
    buffer_.append(chunk, r.bytes);
    auto h = parse_proxy_header(buffer_);
    if (h.status == ProxyHeader::Status::incomplete) continue;
    if (h.status == ProxyHeader::Status::invalid) {
      if (refusals_) {
        // A client reaching a PROXY listener directly, or a misconfigured proxy, does this on
        // every connection: a line per interval; the reason is at debug level.
        refusals_->note(remote_.address().to_string());  // by address: ports differ every time
        logger("proxy")->debug("{} closed: {}", endpoint_text(remote_), h.why);
      } else {
        logger("proxy")->info("{} closed: {}", endpoint_text(remote_), h.why);
      }
      return IoResult{0, Want::nothing, true, asio::error::make_error_code(asio::error::connection_refused)};
    }
    if (h.source) remote_ = *h.source;
    if (h.certificate_verified) identity_ = PeerIdentity{h.common_name, h.common_name.empty() ? "" : "CN=" + h.common_name};
    buffer_.erase(0, h.size);
    if (buffer_.empty()) std::string().swap(buffer_);
    header_done_ = true;
    return std::nullopt;
  }
}

IoResult ProxyStream::try_read(char* data, std::size_t size) {
  if (auto r = read_header()) return *r;
  if (!buffer_.empty()) {
    const std::size_t n = std::min(size, buffer_.size());
    std::memcpy(data, buffer_.data(), n);
    buffer_.erase(0, n);
    if (buffer_.empty()) std::string().swap(buffer_);
    return {n};
  }
  return inner_->try_read(data, size);
}

IoResult ProxyStream::try_writev(std::span<const asio::const_buffer> buffers) {
  // Nothing is written before the client's first bytes, which come after the header.
  return inner_->try_writev(buffers);
}

void ProxyStream::async_wait(Side side, Want want) {
  if (closed_) return;
  if (side == Side::reading && header_done_ && !buffer_.empty()) {
    poller_.defer(token_);
    return;
  }
  inner_->async_wait(side, want);
}

void ProxyStream::on_stream_ready(Side side) {
  if (closed_) return;
  if (events_) events_->on_stream_ready(side);  // last: it may destroy this stream
}

void ProxyStream::on_poll(std::uint32_t) { on_stream_ready(Side::reading); }

void ProxyStream::close() {
  if (closed_) return;
  closed_ = true;
  if (token_) poller_.remove(token_, -1, false);
  token_ = 0;
  inner_->close();
}

std::optional<PeerIdentity> ProxyStream::peer_identity() const {
  if (identity_) return identity_;
  return inner_->peer_identity();
}

namespace {

class DetachedProxy final : public DetachedStream {
 public:
  DetachedProxy(std::unique_ptr<DetachedStream> inner, ProxyStream::State state)
      : inner_(std::move(inner)), state_(std::move(state)) {}
  std::unique_ptr<Stream> attach(Poller& poller) override {
    auto inner = inner_->attach(poller);
    if (!inner) return nullptr;
    return std::make_unique<ProxyStream>(std::move(inner), poller, std::move(state_));
  }

 private:
  std::unique_ptr<DetachedStream> inner_;
  ProxyStream::State state_;
};

}  // namespace

std::unique_ptr<DetachedStream> ProxyStream::detach() {
  if (closed_) return nullptr;
  if (!header_done_) {
    close();
    return nullptr;
  }
  auto inner = inner_->detach();
  if (!inner) {
    close();
    return nullptr;
  }
  closed_ = true;
  if (token_) poller_.remove(token_, -1, false);
  token_ = 0;
  return std::make_unique<DetachedProxy>(std::move(inner), State{remote_, identity_, std::move(buffer_)});
}

}  // namespace hermod::net
