#include "net/tls.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "base/log.hpp"
#include "net/endpoint_text.hpp"

namespace hermod::net {

namespace {

// One TLS record's worth of plaintext.
constexpr std::size_t kRecordBytes = 16384;

// OpenSSL's reasons since the last call, oldest first, "; "-separated (and the queue emptied).
std::string openssl_errors() {
  std::string out;
  while (const unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

// ----------------------------------------------------------------------------------- the BIO
// The SSL object's transport: the inner stream, through its TlsStream (the BIO's data).

int bio_write(BIO* bio, const char* data, int size) {
  auto* s = static_cast<TlsStream*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  const auto r = s->inner_write(data, static_cast<std::size_t>(size));
  if (r.bytes > 0) return static_cast<int>(r.bytes);
  if (r.closed) return -1;
  BIO_set_retry_write(bio);
  return -1;
}

int bio_read(BIO* bio, char* data, int size) {
  auto* s = static_cast<TlsStream*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  const auto r = s->inner_read(data, static_cast<std::size_t>(size));
  if (r.bytes > 0) return static_cast<int>(r.bytes);
  if (r.closed) return r.error ? -1 : 0;
  BIO_set_retry_read(bio);
  return -1;
}

long bio_ctrl(BIO*, int cmd, long, void*) {
  // OpenSSL asks for a flush after each flight of the handshake; writes are never buffered here.
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

int bio_create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

BIO_METHOD* stream_bio_method() {
  // Made once, on first use (C++ makes that thread-safe), never freed.
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "hermod stream");
    BIO_meth_set_write(m, bio_write);
    BIO_meth_set_read(m, bio_read);
    BIO_meth_set_ctrl(m, bio_ctrl);
    BIO_meth_set_create(m, bio_create);
    return m;
  }();
  return method;
}

// Points the SSL object's BIO at `stream` (a new TlsStream after a hand-off).
void bind_bio(SSL* ssl, TlsStream* stream) {
  BIO* bio = SSL_get_rbio(ssl);
  if (bio) BIO_set_data(bio, stream);
}

// ---------------------------------------------------------------------------- loading a context

int passphrase_callback(char* buf, int size, int, void* userdata) {
  const auto* pass = static_cast<const std::string*>(userdata);
  const int n = static_cast<int>(std::min<std::size_t>(pass->size(), static_cast<std::size_t>(size)));
  std::memcpy(buf, pass->data(), static_cast<std::size_t>(n));
  return n;
}

bool read_first_line(const std::string& path, std::string& line) {
  std::ifstream in(path);
  if (!in) return false;
  std::getline(in, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return true;
}

}  // namespace

std::shared_ptr<const TlsContext> TlsContext::load(const TlsSettings& s, std::string& error, std::string* key) {
  const auto blame = [key](const char* k) {
    if (key) *key = k;
  };
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) {
    blame("cert_file");
    error = "cannot make a TLS context: " + openssl_errors();
    return nullptr;
  }
  // Owned from here: the context frees it on every way out.
  std::shared_ptr<const TlsContext> result(new TlsContext(ctx));
  const auto fail = [&](const char* k, const std::string& what) {
    blame(k);
    error = what + ": " + openssl_errors();
    return nullptr;
  };

  if (SSL_CTX_set_min_proto_version(ctx, s.min_version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION) != 1) {
    return fail("tls_min_version", "tls_min_version " + s.min_version);
  }
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (!s.ciphers.empty() && SSL_CTX_set_cipher_list(ctx, s.ciphers.c_str()) != 1) return fail("ciphers", "ciphers");
  if (!s.ciphersuites.empty() && SSL_CTX_set_ciphersuites(ctx, s.ciphersuites.c_str()) != 1) {
    return fail("ciphersuites", "ciphersuites");
  }

  // The passphrase lives only while the key is read.
  std::string passphrase;
  if (!s.key_password_file.empty()) {
    if (!read_first_line(s.key_password_file, passphrase)) {
      blame("key_password_file");
      error = "key_password_file " + s.key_password_file + ": cannot read it";
      return nullptr;
    }
    SSL_CTX_set_default_passwd_cb(ctx, passphrase_callback);
    SSL_CTX_set_default_passwd_cb_userdata(ctx, &passphrase);
  }
  const bool chain_ok = SSL_CTX_use_certificate_chain_file(ctx, s.cert_file.c_str()) == 1;
  if (!chain_ok) return fail("cert_file", "cert_file " + s.cert_file);
  const bool key_ok = SSL_CTX_use_PrivateKey_file(ctx, s.key_file.c_str(), SSL_FILETYPE_PEM) == 1;
  SSL_CTX_set_default_passwd_cb(ctx, nullptr);
  SSL_CTX_set_default_passwd_cb_userdata(ctx, nullptr);
  std::fill(passphrase.begin(), passphrase.end(), '\0');
  if (!key_ok) return fail("key_file", "key_file " + s.key_file);
  if (SSL_CTX_check_private_key(ctx) != 1) return fail("key_file", "key_file " + s.key_file + " does not match cert_file");

  if (!s.ca_file.empty() || !s.ca_dir.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, s.ca_file.empty() ? nullptr : s.ca_file.c_str(),
                                      s.ca_dir.empty() ? nullptr : s.ca_dir.c_str()) != 1) {
      return fail(s.ca_file.empty() ? "ca_dir" : "ca_file", s.ca_file.empty() ? "ca_dir " + s.ca_dir : "ca_file " + s.ca_file);
    }
    // The CAs a client may choose its certificate by (the CertificateRequest's list).
    if (!s.ca_file.empty()) {
      if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(s.ca_file.c_str())) SSL_CTX_set_client_CA_list(ctx, names);
    }
  }
  if (!s.crl_file.empty()) {
    BIO* in = BIO_new_file(s.crl_file.c_str(), "r");
    if (!in) return fail("crl_file", "crl_file " + s.crl_file);
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    int count = 0;
    while (X509_CRL* crl = PEM_read_bio_X509_CRL(in, nullptr, nullptr, nullptr)) {
      X509_STORE_add_crl(store, crl);
      X509_CRL_free(crl);
      ++count;
    }
    BIO_free(in);
    ERR_clear_error();  // the end of the file reads as an error
    if (count == 0) {
      blame("crl_file");
      error = "crl_file " + s.crl_file + ": no PEM CRL in it";
      return nullptr;
    }
    X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
  }
  int verify = SSL_VERIFY_NONE;
  if (s.client_certificates == ClientCertificates::optional) verify = SSL_VERIFY_PEER;
  if (s.client_certificates == ClientCertificates::required) verify = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  SSL_CTX_set_verify(ctx, verify, nullptr);
  static const unsigned char kSessionContext[] = "hermod";
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);
  return result;
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

// ------------------------------------------------------------------------------------ streams

std::unique_ptr<TlsStream> TlsStream::accept(std::unique_ptr<Stream> inner, std::shared_ptr<const TlsContext> context,
                                             Poller& poller, HandshakeGauge* gauge) {
  SSL* ssl = SSL_new(context->native());
  if (!ssl) return nullptr;
  BIO* bio = BIO_new(stream_bio_method());
  if (!bio) {
    SSL_free(ssl);
    return nullptr;
  }
  SSL_set_bio(ssl, bio, bio);  // one BIO both ways; the SSL object owns it
  SSL_set_accept_state(ssl);
  auto stream = std::make_unique<TlsStream>(std::move(inner), std::move(context), ssl, poller, false);
  if (gauge) {
    gauge->acquire();
    stream->gauge_ = gauge;
  }
  return stream;
}

void TlsStream::end_handshake() {
  if (auto* g = std::exchange(gauge_, nullptr)) g->release();
}

TlsStream::TlsStream(std::unique_ptr<Stream> inner, std::shared_ptr<const TlsContext> context, SSL* ssl,
                     Poller& poller, bool handshake_done)
    : inner_(std::move(inner)),
      context_(std::move(context)),
      ssl_(ssl),
      poller_(poller),
      handshake_done_(handshake_done) {
  bind_bio(ssl_, this);
  inner_->set_events(this);
  token_ = poller_.add_target(*this);
}

TlsStream::~TlsStream() {
  close();
  if (ssl_) SSL_free(ssl_);
}

IoResult TlsStream::inner_read(char* data, std::size_t size) {
  auto r = inner_->try_read(data, size);
  if (r.closed) {
    inner_closed_ = true;
    inner_error_ = r.error;
  }
  return r;
}

IoResult TlsStream::inner_write(const char* data, std::size_t size) {
  const asio::const_buffer b(data, size);
  auto r = inner_->try_writev(std::span<const asio::const_buffer>(&b, 1));
  if (r.closed) {
    inner_closed_ = true;
    inner_error_ = r.error;
  }
  return r;
}

IoResult TlsStream::failed(int ret, Side side, const char* what) {
  const int e = SSL_get_error(ssl_, ret);
  auto& want = wants_[static_cast<int>(side)];
  if (e == SSL_ERROR_WANT_READ) {
    want = Want::read;
    return {0, Want::read};
  }
  if (e == SSL_ERROR_WANT_WRITE) {
    want = Want::write;
    return {0, Want::write};
  }
  if (e == SSL_ERROR_ZERO_RETURN) return {0, Want::nothing, true};  // the client's close_notify
  if (inner_closed_) {
    ERR_clear_error();
    return {0, Want::nothing, true, inner_error_};  // the connection ended under TLS
  }
  const std::string reason = openssl_errors();
  if (gauge_ && gauge_->failures) {
    gauge_->failures->note(remote().address().to_string());  // by address: ports differ every time
    logger("tls")->debug("{} {}: {}", endpoint_text(remote()), what, reason);
  } else {
    logger("tls")->info("{} {}: {}", endpoint_text(remote()), what, reason);
  }
  return {0, Want::nothing, true, asio::error::make_error_code(asio::error::connection_aborted)};
}

std::optional<IoResult> TlsStream::handshake() {
  if (handshake_done_) return std::nullopt;
  if (closed_) return IoResult{0, Want::nothing, true, asio::error::make_error_code(asio::error::bad_descriptor)};
  ERR_clear_error();
  const int ret = SSL_do_handshake(ssl_);
  if (ret == 1) {
    handshake_done_ = true;
    end_handshake();
    wants_[0] = Want::read;
    wants_[1] = Want::write;
    return std::nullopt;
  }
  // Whichever side asked, both wait for what the handshake needs.
  auto r = failed(ret, Side::reading, "TLS handshake failed");
  wants_[1] = wants_[0];
  return r;
}

IoResult TlsStream::try_read(char* data, std::size_t size) {
  if (auto r = handshake()) return *r;
  ERR_clear_error();
  const int n = SSL_read(ssl_, data, static_cast<int>(std::min<std::size_t>(size, 1 << 30)));
  if (n > 0) {
    wants_[0] = Want::read;
    return {static_cast<std::size_t>(n)};
  }
  return failed(n, Side::reading, "TLS read failed");
}

IoResult TlsStream::try_writev(std::span<const asio::const_buffer> buffers) {
  if (auto r = handshake()) return *r;
  std::size_t total = 0;
  char record[kRecordBytes];
  for (std::size_t i = 0; i < buffers.size();) {
    const char* data;
    std::size_t size;
    std::size_t used = 1;
    if (buffers[i].size() >= kRecordBytes) {
      data = static_cast<const char*>(buffers[i].data());  // large: written from where it is
      size = buffers[i].size();
    } else {
      // Small buffers (packet headers, acknowledgements) together, into one record.
      size = 0;
      used = 0;
      while (i + used < buffers.size() && size + buffers[i + used].size() <= kRecordBytes) {
        std::memcpy(record + size, buffers[i + used].data(), buffers[i + used].size());
        size += buffers[i + used].size();
        ++used;
      }
      data = record;  // at least buffers[i], which is below a record's size
    }
    ERR_clear_error();
    const int n = SSL_write(ssl_, data, static_cast<int>(std::min<std::size_t>(size, 1 << 30)));
    if (n <= 0) {
      if (total > 0) return {total};  // report what went; the next call meets the wait
      return failed(n, Side::writing, "TLS write failed");
    }
    wants_[1] = Want::write;
    total += static_cast<std::size_t>(n);
    if (static_cast<std::size_t>(n) < size) return {total};  // partial: the rest next time
    i += used;
  }
  return {total};
}

void TlsStream::async_wait(Side side, Want) {
  if (closed_) return;
  const int i = static_cast<int>(side);
  waiting_[i] = true;
  // Bytes OpenSSL has decrypted already, or a record it holds, need no new byte from the
  // socket: complete from the loop.
  if (side == Side::reading && handshake_done_ && SSL_has_pending(ssl_)) {
    poller_.defer(token_);
    return;
  }
  inner_->async_wait(side, wants_[i]);
}

void TlsStream::on_stream_ready(Side side) {
  const int i = static_cast<int>(side);
  if (!waiting_[i] || closed_) return;
  waiting_[i] = false;
  if (events_) events_->on_stream_ready(side);  // last: it may destroy this stream
}

void TlsStream::on_poll(std::uint32_t) {
  on_stream_ready(Side::reading);  // only reading defers (bytes already decrypted)
}

void TlsStream::shutdown_write() {
  if (closed_) return;
  if (handshake_done_) {
    ERR_clear_error();
    SSL_shutdown(ssl_);  // close_notify, best effort
    ERR_clear_error();
  }
  inner_->shutdown_write();
}

void TlsStream::close() {
  end_handshake();
  if (closed_) return;
  closed_ = true;
  waiting_[0] = waiting_[1] = false;
  if (token_) poller_.remove(token_, -1, false);
  token_ = 0;
  inner_->close();
}

namespace {

class DetachedTls final : public DetachedStream {
 public:
  DetachedTls(std::unique_ptr<DetachedStream> inner, std::shared_ptr<const TlsContext> context, SSL* ssl,
              bool handshake_done)
      : inner_(std::move(inner)), context_(std::move(context)), ssl_(ssl), handshake_done_(handshake_done) {}
  ~DetachedTls() override {
    if (ssl_) SSL_free(ssl_);
  }

  std::unique_ptr<Stream> attach(Poller& poller) override {
    auto inner = inner_->attach(poller);
    if (!inner) return nullptr;
    return std::make_unique<TlsStream>(std::move(inner), std::move(context_), std::exchange(ssl_, nullptr), poller,
                                       handshake_done_);
  }

 private:
  std::unique_ptr<DetachedStream> inner_;
  std::shared_ptr<const TlsContext> context_;
  SSL* ssl_;
  bool handshake_done_;
};

}  // namespace

std::unique_ptr<DetachedStream> TlsStream::detach() {
  if (closed_) return nullptr;
  auto inner = inner_->detach();
  if (!inner) {
    close();
    return nullptr;
  }
  end_handshake();
  closed_ = true;  // this object is done; the SSL object travels
  if (token_) poller_.remove(token_, -1, false);
  token_ = 0;
  bind_bio(ssl_, nullptr);
  return std::make_unique<DetachedTls>(std::move(inner), context_, std::exchange(ssl_, nullptr), handshake_done_);
}

std::optional<PeerIdentity> TlsStream::peer_identity() const {
  if (!ssl_ || !handshake_done_ || SSL_get_verify_result(ssl_) != X509_V_OK) return std::nullopt;
  X509* cert = SSL_get0_peer_certificate(ssl_);
  if (!cert) return std::nullopt;
  const X509_NAME* name = X509_get_subject_name(cert);
  PeerIdentity id;
  const int at = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (at >= 0) {
    unsigned char* utf8 = nullptr;
    const int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, at)));
    if (n >= 0) id.common_name.assign(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(n));
    OPENSSL_free(utf8);
  }
  if (BIO* out = BIO_new(BIO_s_mem())) {
    if (X509_NAME_print_ex(out, name, 0, XN_FLAG_RFC2253) >= 0) {
      char* text = nullptr;
      const long n = BIO_get_mem_data(out, &text);
      if (n > 0) id.subject.assign(text, static_cast<std::size_t>(n));
    }
    BIO_free(out);
  }
  ERR_clear_error();
  return id;
}

}  // namespace hermod::net
