// TLS sessions over memory BIOs: handshake, records in and out, errors that name the problem (the
// context is in tls_context.cpp).
#include "transport/tls.hpp"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <climits>
#include <cstring>
#include <vector>

#include "transport/tls_detail.hpp"

namespace rcache::detail {

std::string ssl_reason(const char* fallback) {
  const unsigned long e = ERR_peek_last_error();
  if (e == 0) return fallback;
  const char* r = ERR_reason_error_string(e);
  return r != nullptr ? r : ERR_error_string(e, nullptr);
}

namespace {

bool is_ip_literal(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

std::string asn1_time(const ASN1_TIME* t) {
  if (t == nullptr) return "?";
  BIO* b = BIO_new(BIO_s_mem());
  if (b == nullptr) return "?";
  ASN1_TIME_print(b, t);
  char* data = nullptr;
  const long n = BIO_get_mem_data(b, &data);
  std::string out(data != nullptr && n > 0 ? std::string(data, static_cast<std::size_t>(n)) : "?");
  BIO_free(b);
  return out;
}

std::string x509_name(const X509_NAME* n) {
  if (n == nullptr) return "?";
  char buf[256];
  X509_NAME_oneline(n, buf, sizeof buf);
  return buf;
}

// "DNS:redis.internal, IP:10.0.0.5" (or the subject when the certificate has no SAN).
std::string names_of(X509* cert) {
  std::string out;
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (sans != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* g = sk_GENERAL_NAME_value(sans, i);
      std::string one;
      if (g->type == GEN_DNS) {
        const auto* s = ASN1_STRING_get0_data(g->d.dNSName);
        one = "DNS:" + std::string(reinterpret_cast<const char*>(s),
                                   static_cast<std::size_t>(ASN1_STRING_length(g->d.dNSName)));
      } else if (g->type == GEN_IPADD) {
        const int len = ASN1_STRING_length(g->d.iPAddress);
        const auto* b = ASN1_STRING_get0_data(g->d.iPAddress);
        char text[INET6_ADDRSTRLEN] = "?";
        if (len == 4) inet_ntop(AF_INET, b, text, sizeof text);
        if (len == 16) inet_ntop(AF_INET6, b, text, sizeof text);
        one = "IP:" + std::string(text);
      }
      if (!one.empty()) out += (out.empty() ? "" : ", ") + one;
    }
    GENERAL_NAMES_free(sans);
  }
  if (out.empty()) {
    out = "no subjectAltName, subject " + x509_name(X509_get_subject_name(cert)) +
          ", whose CN is not used as a name";
  }
  return out;
}

}  // namespace

int tls_seen_index() {
  static const int idx = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return idx;
}

int tls_verify_cb(int ok, X509_STORE_CTX* store) {
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  if (ssl == nullptr) return ok;
  auto* seen = static_cast<TlsSeen*>(SSL_get_ex_data(ssl, tls_seen_index()));
  if (seen == nullptr) return ok;
  if (ok == 0 && seen->failed_depth < 0) {
    // The certificate that failed, which may be a CA of the chain rather than the server's own.
    if (X509* bad = X509_STORE_CTX_get_current_cert(store)) {
      seen->failed_depth = X509_STORE_CTX_get_error_depth(store);
      seen->failed_subject = x509_name(X509_get_subject_name(bad));
      seen->failed_not_before = asn1_time(X509_get0_notBefore(bad));
      seen->failed_not_after = asn1_time(X509_get0_notAfter(bad));
    }
  }
  if (seen->have) return ok;
  // The leaf is what a user recognises: its names and issuer tell a name mismatch and an
  // unknown CA apart.
  X509* leaf = nullptr;
  STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(store);
  if (chain != nullptr && sk_X509_num(chain) > 0) leaf = sk_X509_value(chain, 0);
  if (leaf == nullptr) leaf = X509_STORE_CTX_get_current_cert(store);
  if (leaf == nullptr) return ok;
  seen->have = true;
  seen->subject = x509_name(X509_get_subject_name(leaf));
  seen->issuer = x509_name(X509_get_issuer_name(leaf));
  seen->names = names_of(leaf);
  seen->not_before = asn1_time(X509_get0_notBefore(leaf));
  seen->not_after = asn1_time(X509_get0_notAfter(leaf));
  return ok;
}

// ---- TlsSession -------------------------------------------------------------------------------

TlsSession::TlsSession(std::shared_ptr<TlsContext> ctx, std::string name, std::string endpoint)
    : ctx_(std::move(ctx)),
      name_(std::move(name)),
      endpoint_(std::move(endpoint)),
      peer_(endpoint_ + " " + name_) {}

TlsSession::~TlsSession() {
  if (ssl_ != nullptr) {
    // OpenSSL marks the session of a connection freed without a shutdown as not resumable. A
    // connection that ends because its socket did (a reset, a kill) keeps it resumable, as TLS
    // 1.3 allows; one that ended on a TLS error does not.
    if (established_ && !failed_) SSL_set_shutdown(ssl_, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    delete static_cast<TlsSeen*>(SSL_get_ex_data(ssl_, tls_seen_index()));
    SSL_free(ssl_);  // frees both BIOs
  }
}

Result<void> TlsSession::start() {
  ERR_clear_error();
  ssl_ = SSL_new(ctx_->native());
  in_ = BIO_new(BIO_s_mem());
  out_ = BIO_new(BIO_s_mem());
  if (ssl_ == nullptr || in_ == nullptr || out_ == nullptr) {
    if (in_ != nullptr && ssl_ == nullptr) BIO_free(in_);
    if (out_ != nullptr && ssl_ == nullptr) BIO_free(out_);
    return Error{Errc::tls, "TLS with " + endpoint_ + ": cannot create a session: " + ssl_reason()};
  }
  SSL_set_bio(ssl_, in_, out_);
  auto seen = std::make_unique<TlsSeen>();
  seen->peer = peer_;
  SSL_set_ex_data(ssl_, tls_seen_index(), seen.release());
  SSL_set_connect_state(ssl_);
  if (is_ip_literal(name_)) {
    if (ctx_->verifies() &&
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), name_.c_str()) != 1) {
      return Error{Errc::tls, "TLS with " + endpoint_ + ": cannot verify IP '" + name_ + "'"};
    }
  } else {
    SSL_set_tlsext_host_name(ssl_, name_.c_str());  // SNI: names only, never IP literals
    if (ctx_->verifies()) {
      // Names come from the subjectAltName only, never the subject's CN (RFC 6125; Go, Python
      // and browsers do the same).
      SSL_set_hostflags(ssl_,
                        X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS | X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
      if (SSL_set1_host(ssl_, name_.c_str()) != 1) {
        return Error{Errc::tls, "TLS with " + endpoint_ + ": cannot verify name '" + name_ + "'"};
      }
    }
  }
  if (ctx_->resumes()) {
    if (SSL_SESSION* s = ctx_->take_session(peer_)) {
      SSL_set_session(ssl_, s);
      SSL_SESSION_free(s);
    }
  }
  return drive_handshake();
}

Result<void> TlsSession::drive_handshake() {
  ERR_clear_error();
  const int rc = SSL_do_handshake(ssl_);
  if (rc == 1) {
    if (ctx_->verifies() && SSL_get0_peer_certificate(ssl_) == nullptr) {
      // Only an anonymous cipher suite gets here (tls_ciphers allowing aNULL): nothing was
      // verified, so nothing is sent.
      failed_ = true;
      return Error{Errc::tls, "TLS handshake with " + endpoint_ +
                                  " failed: the server showed no certificate (an anonymous cipher "
                                  "suite; remove aNULL from tls_ciphers)"};
    }
    established_ = true;
    ctx_->count_handshake(SSL_session_reused(ssl_) == 1);
    return {};
  }
  const int err = SSL_get_error(ssl_, rc);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return {};
  failed_ = true;
  return handshake_error(err);
}

Result<void> TlsSession::feed(const char* data, std::size_t len, std::string& plain) {
  if (ssl_ == nullptr) return Error{Errc::tls, "TLS with " + endpoint_ + ": not started"};
  while (len > 0) {
    const int n = static_cast<int>(std::min<std::size_t>(len, INT_MAX));
    if (BIO_write(in_, data, n) != n) {
      return Error{Errc::tls, "TLS with " + endpoint_ + ": out of memory buffering records"};
    }
    data += n;
    len -= static_cast<std::size_t>(n);
  }
  if (!established_) {
    if (auto r = drive_handshake(); !r) return r;
    if (!established_) return {};
  }
  // Bounded: each round consumes buffered records; WANT_READ means nothing whole is left.
  char buf[16 * 1024];
  for (;;) {
    ERR_clear_error();
    const int n = SSL_read(ssl_, buf, sizeof buf);
    if (n > 0) {
      plain.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    const int err = SSL_get_error(ssl_, n);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return {};
    // A close_notify is a clean end (Redis sends one on CLIENT KILL): its session stays
    // resumable; any other error ends it for good.
    failed_ = err != SSL_ERROR_ZERO_RETURN;
    if (err == SSL_ERROR_ZERO_RETURN) {
      return Error{Errc::connection,
                   "connection to " + endpoint_ + " lost: the server closed the TLS session"};
    }
    return io_error(err, "reading from");
  }
}

Result<void> TlsSession::send(std::string_view plain) {
  if (!established_) {
    return Error{Errc::tls, "TLS with " + endpoint_ + ": data sent before the handshake ended"};
  }
  while (!plain.empty()) {
    const int n = static_cast<int>(std::min<std::size_t>(plain.size(), INT_MAX));
    ERR_clear_error();
    const int w = SSL_write(ssl_, plain.data(), n);  // a memory BIO takes it all
    if (w <= 0) {
      failed_ = true;
      return io_error(SSL_get_error(ssl_, w), "writing to");
    }
    plain.remove_prefix(static_cast<std::size_t>(w));
  }
  return {};
}

bool TlsSession::has_output() const noexcept {
  return out_ != nullptr && BIO_ctrl_pending(out_) > 0;
}

std::string TlsSession::take_output() {
  std::string out;
  if (out_ == nullptr) return out;
  const std::size_t n = BIO_ctrl_pending(out_);
  if (n == 0) return out;
  out.resize(n);
  const int got = BIO_read(out_, out.data(), static_cast<int>(std::min<std::size_t>(n, INT_MAX)));
  out.resize(got > 0 ? static_cast<std::size_t>(got) : 0);
  return out;
}

bool TlsSession::resumed() const noexcept {
  return ssl_ != nullptr && SSL_session_reused(ssl_) == 1;
}

std::string TlsSession::describe() const {
  if (ssl_ == nullptr || !established_) return "not established";
  return std::string(SSL_get_version(ssl_)) + " " + SSL_get_cipher_name(ssl_);
}

Error TlsSession::handshake_error(int ssl_error) const {
  const std::string who = "TLS handshake with " + endpoint_ + " failed: ";
  const long verify = SSL_get_verify_result(ssl_);
  const auto* seen = static_cast<const TlsSeen*>(SSL_get_ex_data(ssl_, tls_seen_index()));
  if (ctx_->verifies() && verify != X509_V_OK) {
    const std::string cert = seen != nullptr && seen->have ? " (" + seen->subject + ")" : "";
    // Validity errors name the certificate that failed: the server's own, or a CA of its chain.
    const bool in_chain = seen != nullptr && seen->failed_depth > 0;
    const std::string which = in_chain ? "a CA certificate of the server's chain (" +
                                             seen->failed_subject + ", depth " +
                                             std::to_string(seen->failed_depth) + ")"
                                       : "the server's certificate" + cert;
    const bool failed_known = seen != nullptr && seen->failed_depth >= 0;
    const std::string not_after = seen == nullptr ? "?"
                                  : failed_known  ? seen->failed_not_after
                                                  : seen->not_after;
    const std::string not_before = seen == nullptr ? "?"
                                   : failed_known  ? seen->failed_not_before
                                                   : seen->not_before;
    switch (verify) {
      case X509_V_ERR_CERT_HAS_EXPIRED:
        return Error{Errc::tls, who + which + " expired on " + not_after};
      case X509_V_ERR_CERT_NOT_YET_VALID:
        return Error{Errc::tls, who + which + " is not valid before " + not_before};
      case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
      case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
      case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
      case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
      case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        return Error{Errc::tls, who + "the server's certificate" + cert +
                                    " is signed by a CA this client " + "does not trust (issuer " +
                                    (seen != nullptr ? seen->issuer : std::string("?")) +
                                    "); set tls_ca_file to the CA that signed it (" +
                                    X509_verify_cert_error_string(verify) + ")"};
      case X509_V_ERR_IP_ADDRESS_MISMATCH:
        return Error{Errc::tls,
                     who + "the server's certificate has no IP address '" + name_ +
                         "' among its names (" +
                         (seen != nullptr && seen->have ? seen->names : std::string("?")) +
                         "); a certificate for an IP address needs it as an IP subjectAltName (set "
                         "tls_server_name to dial by a name the certificate has)"};
      case X509_V_ERR_HOSTNAME_MISMATCH:
        return Error{
            Errc::tls,
            who + "the server's certificate is for " +
                (seen != nullptr && seen->have ? seen->names : std::string("other names")) +
                ", not '" + name_ +
                "' (the name dialled; set tls_server_name if the server is known by "
                "another name)"};
      default:
        return Error{Errc::tls, who + "the server's certificate" + cert +
                                    " was refused: " + X509_verify_cert_error_string(verify)};
    }
  }
  return io_error(ssl_error, "handshaking with");
}

Error TlsSession::io_error(int ssl_error, const char* what) const {
  const unsigned long e = ERR_peek_last_error();
  const int reason = ERR_GET_REASON(e);
  const std::string who = established_ ? std::string("TLS ") + what + " " + endpoint_ + " failed: "
                                       : "TLS handshake with " + endpoint_ + " failed: ";
  if (ERR_GET_LIB(e) == ERR_LIB_SSL) {
    switch (reason) {
      case SSL_R_WRONG_VERSION_NUMBER:
      case SSL_R_PACKET_LENGTH_TOO_LONG:
      case SSL_R_RECORD_LENGTH_MISMATCH:
      case SSL_R_UNEXPECTED_MESSAGE:
        return Error{Errc::tls, who + "the server does not speak TLS there (a plaintext port?): " +
                                    ssl_reason()};
      case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
        return Error{Errc::tls,
                     who +
                         "the server requires a client certificate; set tls_cert_file and "
                         "tls_key_file"};
      case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE:
        if (SSL_get_certificate(ssl_) == nullptr) {
          return Error{Errc::tls, who +
                                      "the server refused the handshake (it may require a "
                                      "client certificate: set tls_cert_file and tls_key_file, "
                                      "or no cipher in common)"};
        }
        break;
      case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
      case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
      case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
      case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
      case SSL_R_TLSV1_ALERT_DECRYPT_ERROR:
        return Error{
            Errc::tls,
            who + "the server refused the client certificate (tls_cert_file): " + ssl_reason()};
      case SSL_R_UNSUPPORTED_PROTOCOL:
      case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
      case SSL_R_NO_PROTOCOLS_AVAILABLE:
        return Error{Errc::tls,
                     who + "no TLS version in common (tls_min_version): " + ssl_reason()};
      default:
        break;
    }
  }
  if (ssl_error == SSL_ERROR_SYSCALL && e == 0) {
    return Error{Errc::tls, who + "unexpected end of the TLS stream"};
  }
  return Error{Errc::tls, who + ssl_reason("TLS error")};
}

}  // namespace rcache::detail
