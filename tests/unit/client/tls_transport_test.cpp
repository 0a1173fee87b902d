// TlsTransport against an in-process TLS server (asio::ssl on the same io_context) with a
// certificate made here: which TlsOptions accept which certificate, and what a refusal says.
#include "client/tls_transport.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>

#include "client/error.hpp"

namespace hermod::client {
namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

// A self-signed ECDSA P-256 certificate for `san` ("IP:127.0.0.1,DNS:localhost"), in PEM files
// under a fresh directory.
struct TestCertificate {
  std::filesystem::path dir;
  std::filesystem::path cert;
  std::filesystem::path key;

  explicit TestCertificate(const std::string& san) {
    dir = std::filesystem::temp_directory_path() / ("hermod-tls-test-" + std::to_string(getpid()) + "-" +
                                                    std::to_string(reinterpret_cast<std::uintptr_t>(this)));
    std::filesystem::create_directories(dir);
    cert = dir / "cert.pem";
    key = dir / "key.pem";
    EVP_PKEY* pkey = EVP_EC_gen("P-256");
    X509* x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("hermod test"), -1, -1,
                               0);
    X509_set_issuer_name(x, name);
    X509_set_pubkey(x, pkey);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
    for (const auto& [nid, value] : {std::pair{NID_subject_alt_name, san}, std::pair{NID_basic_constraints, std::string("critical,CA:TRUE")}}) {
      X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
      X509_add_ext(x, ext, -1);
      X509_EXTENSION_free(ext);
    }
    X509_sign(x, pkey, EVP_sha256());
    FILE* f = std::fopen(cert.c_str(), "w");
    PEM_write_X509(f, x);
    std::fclose(f);
    f = std::fopen(key.c_str(), "w");
    PEM_write_PrivateKey(f, pkey, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(f);
    X509_free(x);
    EVP_PKEY_free(pkey);
  }
  ~TestCertificate() {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
};

// Accepts one TLS connection on 127.0.0.1 and echoes what it reads.
class EchoServer {
 public:
  EchoServer(asio::io_context& io, const TestCertificate& c, int max_version = 0)
      : context_(ssl::context::tls_server), acceptor_(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    context_.use_certificate_chain_file(c.cert.string());
    context_.use_private_key_file(c.key.string(), ssl::context::pem);
    if (max_version) SSL_CTX_set_max_proto_version(context_.native_handle(), max_version);
    acceptor_.async_accept([this](const boost::system::error_code& ec, tcp::socket s) {
      if (ec) return;
      stream_.emplace(std::move(s), context_);
      stream_->async_handshake(ssl::stream_base::server, [this](const boost::system::error_code& ec) {
        if (!ec) echo();
      });
    });
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

 private:
  void echo() {
    stream_->async_read_some(asio::buffer(buf_), [this](const boost::system::error_code& ec, std::size_t n) {
      if (ec) return;
      asio::async_write(*stream_, asio::buffer(buf_.data(), n), [this](const boost::system::error_code& ec, std::size_t) {
        if (!ec) echo();
      });
    });
  }
  ssl::context context_;
  tcp::acceptor acceptor_;
  std::optional<ssl::stream<tcp::socket>> stream_;
  std::array<char, 1024> buf_{};
};

class TlsTransportTest : public ::testing::Test {
 protected:
  // Connects to the server with `options` and `host`; on success sends "ping" and expects it back.
  std::error_code connect(const TlsOptions& options, const std::string& host = "127.0.0.1") {
    std::string error;
    auto context = TlsClientContext::load(options, error);
    EXPECT_TRUE(context) << error;
    if (!context) return make_error_code(Errc::tls_setup_failed);
    auto t = std::make_shared<TlsTransport>(io.get_executor(), context);
    std::optional<std::error_code> result;
    t->async_connect(host, server->port(), [&](std::error_code ec) { result = ec; });
    while (!result && io.run_one_for(std::chrono::seconds(5))) {
    }
    EXPECT_TRUE(result) << "no connect completion";
    if (!result || *result) return result.value_or(make_error_code(Errc::timeout));
    std::string sent = "ping";
    std::array<char, 16> got{};
    std::optional<std::size_t> n;
    t->async_write(asio::buffer(sent), [&](std::error_code ec, std::size_t) {
      EXPECT_FALSE(ec);
      t->async_read_some(asio::buffer(got), [&](std::error_code ec, std::size_t k) { n = ec ? 0 : k; });
    });
    while (!n && io.run_one_for(std::chrono::seconds(5))) {
    }
    EXPECT_EQ(std::string(got.data(), n.value_or(0)), "ping");
    t->close();
    return {};
  }

  void serve(const TestCertificate& c, int max_version = 0) { server.emplace(io, c, max_version); }

  asio::io_context io;
  std::optional<EchoServer> server;
};

TEST_F(TlsTransportTest, CaFileThatSignedTheCertificateVerifiesIt) {
  TestCertificate c("IP:127.0.0.1,DNS:localhost");
  serve(c);
  TlsOptions o;
  o.ca_file = c.cert.string();
  EXPECT_FALSE(connect(o));
}

TEST_F(TlsTransportTest, UnknownIssuerIsRefusedWithTheVerificationResult) {
  TestCertificate c("IP:127.0.0.1");
  serve(c);
  const auto ec = connect(TlsOptions{});  // the system trust store does not know it
  EXPECT_EQ(&ec.category(), &tls_verify_category());
  EXPECT_EQ(ec.value(), X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT) << ec.message();
  EXPECT_NE(ec.message().find("self-signed certificate"), std::string::npos) << ec.message();
}

TEST_F(TlsTransportTest, CertificateForAnotherAddressIsRefused) {
  TestCertificate c("DNS:other.example");
  serve(c);
  TlsOptions o;
  o.ca_file = c.cert.string();
  const auto ec = connect(o);
  EXPECT_EQ(ec.value(), X509_V_ERR_IP_ADDRESS_MISMATCH) << ec.message();
}

TEST_F(TlsTransportTest, NameCheckCanBeTurnedOffAndTheChainIsStillVerified) {
  TestCertificate c("DNS:other.example");
  serve(c);
  TlsOptions o;
  o.ca_file = c.cert.string();
  o.verify_server_name = false;
  EXPECT_FALSE(connect(o));
}

TEST_F(TlsTransportTest, InsecureAcceptsAnyCertificate) {
  TestCertificate c("DNS:other.example");
  serve(c);
  TlsOptions o;
  o.insecure = true;
  EXPECT_FALSE(connect(o));
}

TEST_F(TlsTransportTest, MinimumVersionAboveTheServersFails) {
  TestCertificate c("IP:127.0.0.1");
  serve(c, TLS1_2_VERSION);
  TlsOptions o;
  o.ca_file = c.cert.string();
  o.min_version = TlsVersion::v1_3;
  const auto ec = connect(o);
  EXPECT_TRUE(ec);
  EXPECT_NE(&ec.category(), &tls_verify_category()) << "a version mismatch is not a certificate problem";
}

TEST(TlsClientContext, FilesThatDoNotLoadAreNamed) {
  std::string error;
  TlsOptions o;
  o.ca_file = "/nonexistent/ca.pem";
  EXPECT_FALSE(TlsClientContext::load(o, error));
  EXPECT_NE(error.find("cannot load CA file '/nonexistent/ca.pem'"), std::string::npos) << error;
  TlsOptions k;
  k.key_file = "key.pem";
  EXPECT_FALSE(TlsClientContext::load(k, error));
  EXPECT_NE(error.find("needs its certificate"), std::string::npos) << error;
  TestCertificate c("IP:127.0.0.1");
  TestCertificate other("IP:127.0.0.1");
  TlsOptions mismatched;
  mismatched.cert_file = c.cert.string();
  mismatched.key_file = other.key.string();
  EXPECT_FALSE(TlsClientContext::load(mismatched, error));
  EXPECT_NE(error.find("cannot load key file"), std::string::npos) << error;
  TlsOptions good;
  good.cert_file = c.cert.string();
  good.key_file = c.key.string();
  EXPECT_TRUE(TlsClientContext::load(good, error)) << error;
}

}  // namespace
}  // namespace hermod::client
