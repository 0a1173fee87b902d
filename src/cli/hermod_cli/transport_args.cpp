#include "transport_args.hpp"

#include <stdexcept>

#include "client/broker_url.hpp"

namespace hermod::cli {

void add_transport_options(CLI::App& app, TransportArgs& a, const std::string& url_help) {
  app.add_option("-L,--url", a.url,
                 "broker URL: mqtt://, mqtts://, ws:// or wss://[user[:password]@]host[:port][/path] "
                 "(default ports 1883, 8883, 80, 443; IPv6 in brackets). " +
                     url_help + " Not with -h, -p.");
  app.add_option("--cafile", a.cafile, "PEM file of CAs that verify the broker's certificate; turns TLS on")
      ->check(CLI::ExistingFile);
  app.add_option("--capath", a.capath, "hashed directory (c_rehash) of such CAs; turns TLS on")
      ->check(CLI::ExistingDirectory);
  app.add_option("--cert", a.cert, "client certificate (PEM) for brokers that ask for one; turns TLS on; needs --key")
      ->check(CLI::ExistingFile);
  app.add_option("--key", a.key, "private key (PEM, unencrypted) of --cert")->check(CLI::ExistingFile);
  app.add_flag("--insecure", a.insecure,
               "do not check that the broker's certificate is for the host connected to (the certificate "
               "itself is still verified against the CAs); for tests only");
  app.add_option("--tls-version", a.tls_version, "lowest TLS version accepted: tlsv1.2 (default) or tlsv1.3")
      ->check(CLI::IsMember({"tlsv1.2", "tlsv1.3"}));
}

namespace {

void fill_tls(const TransportArgs& a, client::TlsOptions& tls) {
  if (a.cafile) tls.ca_file = *a.cafile;
  if (a.capath) tls.ca_dir = *a.capath;
  if (a.cert) tls.cert_file = *a.cert;
  if (a.key) tls.key_file = *a.key;
  tls.verify_server_name = !a.insecure;
  tls.min_version = a.tls_version == "tlsv1.3" ? client::TlsVersion::v1_3 : client::TlsVersion::v1_2;
}

}  // namespace

Endpoint resolve_endpoint(const TransportArgs& a, const std::optional<std::string>& host,
                          const std::optional<int>& port, const std::string& default_host) {
  if (a.cert.has_value() != a.key.has_value()) throw std::invalid_argument("--cert and --key go together");
  const bool tls_files = a.cafile || a.capath || a.cert;
  Endpoint e;
  fill_tls(a, e.tls);
  if (!a.url) {
    e.transport = tls_files ? client::TransportKind::tls : client::TransportKind::tcp;
    e.host = host.value_or(default_host);
    e.port = static_cast<std::uint16_t>(port.value_or(client::default_port(e.transport)));
    return e;
  }
  if (host || port) throw std::invalid_argument("-L gives the host and port: do not combine it with -h or -p");
  std::string error;
  const auto url = client::parse_broker_url(*a.url, error);
  if (!url) throw std::invalid_argument("invalid URL '" + *a.url + "': " + error);
  if (tls_files && !client::uses_tls(url->transport)) {
    throw std::invalid_argument("--cafile, --capath and --cert need a TLS URL (mqtts:// or wss://), not " +
                                std::string(url->transport == client::TransportKind::ws ? "ws://" : "mqtt://"));
  }
  e.transport = url->transport;
  e.host = url->host;
  e.port = url->port;
  e.username = url->username;
  e.password = url->password;
  if (client::uses_websocket(url->transport)) {
    if (!url->path.empty()) e.ws_path = url->path;
  } else if (url->path.size() > 1) {
    e.topic = url->path.substr(1);
  }
  return e;
}

void apply_endpoint(const Endpoint& e, client::ClientOptions& o) {
  o.transport = e.transport;
  o.host = e.host;
  o.port = e.port;
  o.ws_path = e.ws_path;
  o.tls = e.tls;
}

}  // namespace hermod::cli
