#include "client/tls_config.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <memory>

#include "client/error.hpp"

namespace hermod::client {

namespace {

struct CtxDeleter {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};

// Hands OpenSSL the key's passphrase; `userdata` is the TlsOptions::key_password being loaded.
int passphrase_callback(char* buf, int size, int, void* userdata) {
  const auto* password = static_cast<const std::string*>(userdata);
  if (!password || size <= 0) return 0;
  const int n = static_cast<int>(std::min<std::size_t>(password->size(), static_cast<std::size_t>(size)));
  password->copy(buf, static_cast<std::size_t>(n));
  return n;
}

bool is_ip_address(const std::string& host) {
  in6_addr a6{};
  in_addr a4{};
  return inet_pton(AF_INET, host.c_str(), &a4) == 1 || inet_pton(AF_INET6, host.c_str(), &a6) == 1;
}

bool fail(std::string& error, const std::string& what) {
  error = what + ": " + take_openssl_errors("unknown OpenSSL error");
  return false;
}

bool load_trust(SSL_CTX* ctx, const TlsOptions& o, std::string& error) {
  if (o.ca_file.empty() && o.ca_dir.empty()) {
    if (SSL_CTX_set_default_verify_paths(ctx) != 1) return fail(error, "cannot load the system trust store");
    return true;
  }
  if (!o.ca_file.empty() && SSL_CTX_load_verify_file(ctx, o.ca_file.c_str()) != 1) {
    return fail(error, "cannot load CA file '" + o.ca_file + "'");
  }
  if (!o.ca_dir.empty() && SSL_CTX_load_verify_dir(ctx, o.ca_dir.c_str()) != 1) {
    return fail(error, "cannot use CA directory '" + o.ca_dir + "'");
  }
  return true;
}

bool load_identity(SSL_CTX* ctx, const TlsOptions& o, std::string& error) {
  if (o.cert_file.empty()) {
    if (!o.key_file.empty()) return error = "a client key needs its certificate (cert_file)", false;
    return true;
  }
  if (SSL_CTX_use_certificate_chain_file(ctx, o.cert_file.c_str()) != 1) {
    return fail(error, "cannot load certificate file '" + o.cert_file + "'");
  }
  const std::string& key = o.key_file.empty() ? o.cert_file : o.key_file;
  // The callback runs only inside SSL_CTX_use_PrivateKey_file: the pointer does not outlive it.
  SSL_CTX_set_default_passwd_cb(ctx, passphrase_callback);
  SSL_CTX_set_default_passwd_cb_userdata(ctx, const_cast<std::string*>(&o.key_password));
  const bool loaded = SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) == 1;
  SSL_CTX_set_default_passwd_cb(ctx, nullptr);
  SSL_CTX_set_default_passwd_cb_userdata(ctx, nullptr);
  if (!loaded) return fail(error, "cannot load key file '" + key + "'");
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return fail(error, "key file '" + key + "' does not match certificate '" + o.cert_file + "'");
  }
  return true;
}

}  // namespace

std::string take_openssl_errors(const char* fallback) {
  std::string text;
  while (const unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!text.empty()) text += "; ";
    text += buf;
  }
  return text.empty() ? fallback : text;
}

SSL_CTX* new_client_tls_context(const TlsOptions& o, std::string& error) {
  ERR_clear_error();
  std::unique_ptr<SSL_CTX, CtxDeleter> ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) {
    fail(error, "cannot create a TLS context");
    return nullptr;
  }
  const int min = o.min_version == TlsVersion::v1_3 ? TLS1_3_VERSION : TLS1_2_VERSION;
  if (SSL_CTX_set_min_proto_version(ctx.get(), min) != 1) {
    fail(error, "cannot set the minimum TLS version");
    return nullptr;
  }
  SSL_CTX_set_verify(ctx.get(), o.insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, nullptr);
  if (!load_trust(ctx.get(), o, error) || !load_identity(ctx.get(), o, error)) return nullptr;
  return ctx.release();
}

bool prepare_client_tls(SSL* ssl, const std::string& host, const TlsOptions& o) {
  const bool ip = is_ip_address(host);
  // SNI carries host names only (RFC 6066 section 3).
  if (!ip && !host.empty() && SSL_set_tlsext_host_name(ssl, host.c_str()) != 1) return false;
  if (o.insecure || !o.verify_server_name) return true;
  if (ip) return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str()) == 1;
  SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  return SSL_set1_host(ssl, host.c_str()) == 1;
}

std::error_code verification_error(const SSL* ssl) {
  const long result = SSL_get_verify_result(ssl);
  if (result == X509_V_OK) return {};
  return {static_cast<int>(result), tls_verify_category()};
}

}  // namespace hermod::client
