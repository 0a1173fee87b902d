// The client side of TLS as OpenSSL 3 calls, without I/O: building a client SSL_CTX from
// TlsOptions, preparing one connection's SSL for the host it connects to (SNI, name check), and
// reporting why a handshake failed. TlsTransport (asio::ssl) and hermod-cli bench (OpenSSL on a
// non-blocking descriptor) both use it, so the two verify certificates the same way.
//
// Threads: an SSL_CTX is immutable once built and may create SSL objects on any thread; an SSL
// belongs to one connection.
#pragma once

#include <string>
#include <system_error>

#include "client/options.hpp"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace hermod::client {

// A client context: minimum version; the CAs of ca_file / ca_dir, or the system trust store when
// neither is given; the client certificate and key if given (the key decrypted with
// key_password); peer verification unless `insecure`. Null, with `error` naming the file or
// setting and OpenSSL's reason, if something does not load. The caller owns the result
// (SSL_CTX_free).
SSL_CTX* new_client_tls_context(const TlsOptions& options, std::string& error);

// For one connection to `host` (a name or an IP address without brackets): SNI for a name, and,
// unless insecure or !verify_server_name, the check that the certificate is for that name or
// address. False if OpenSSL refuses the settings.
bool prepare_client_tls(SSL* ssl, const std::string& host, const TlsOptions& options);

// After a failed handshake: the certificate verification failure (tls_verify_category(), value
// X509_V_ERR_...), or an empty code if verification was not what failed.
std::error_code verification_error(const SSL* ssl);

// OpenSSL's error queue as text ("error:0A000086:SSL routines::certificate verify failed"), or
// `fallback` if it is empty; the queue is cleared.
std::string take_openssl_errors(const char* fallback);

}  // namespace hermod::client
