// TLS over memory BIOs: context (trust, versions, client certificate, resumption) and session
// (handshake, records in and out, errors that name the problem).
#include "transport/tls.hpp"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <climits>
#include <cstring>
#include <vector>

namespace rcache::detail {

namespace {

// The reason of the newest OpenSSL error on this thread's queue ("unable to get local issuer
// certificate"), or `fallback`.
std::string ssl_reason(const char* fallback = "unknown OpenSSL error") {
  const unsigned long e = ERR_peek_last_error();
  if (e == 0) return fallback;
  const char* r = ERR_reason_error_string(e);
  return r != nullptr ? r : ERR_error_string(e, nullptr);
}

Error bad_file(const char* field, const std::string& path, const std::string& hint = "") {
  std::string m = "config: cannot load " + std::string(field) + " '" + path + "': " + ssl_reason();
  if (!hint.empty()) m += " (" + hint + ")";
  ERR_clear_error();
  return Error{Errc::invalid_argument, std::move(m)};
}

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

// "DNS:redis.internal, IP:10.0.0.5" (or "CN=..." when the certificate has no SAN).
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
  if (out.empty()) out = x509_name(X509_get_subject_name(cert));
  return out;
}

// What the verify callback saw of the server's own certificate (depth 0), for messages.
struct Seen {
  std::string peer;  // the TlsContext session store's key
  bool have = false;
  std::string subject, issuer, names, not_before, not_after;
};

int seen_index() {
  static const int idx = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return idx;
}

int verify_cb(int ok, X509_STORE_CTX* store) {
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  if (ssl == nullptr) return ok;
  auto* seen = static_cast<Seen*>(SSL_get_ex_data(ssl, seen_index()));
  if (seen == nullptr || seen->have) return ok;
  // The leaf is what a user recognises; the chain is walked from it, so depth 0 is seen first
  // for name and validity errors, and the issuer tells "unknown CA" apart.
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

int password_cb(char* buf, int size, int /*rwflag*/, void* userdata) {
  const auto* pw = static_cast<const std::string*>(userdata);
  if (pw == nullptr || size <= 0) return 0;
  const int n = static_cast<int>(std::min<std::size_t>(pw->size(), static_cast<std::size_t>(size)));
  std::memcpy(buf, pw->data(), static_cast<std::size_t>(n));
  return n;
}

int new_session_cb(SSL* ssl, SSL_SESSION* session) {
  auto* ctx = static_cast<TlsContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  const auto* seen = static_cast<const Seen*>(SSL_get_ex_data(ssl, seen_index()));
  if (ctx == nullptr || seen == nullptr) return 0;
  ctx->remember(seen->peer, session);
  return 1;  // we keep the reference
}

// The key password must outlive the SSL_CTX's use of it (loading happens in create()).
struct KeyPassword {
  std::string value;
  ~KeyPassword() { OPENSSL_cleanse(value.data(), value.size()); }
};

}  // namespace

// ---- TlsContext -------------------------------------------------------------------------------

Result<std::shared_ptr<TlsContext>> TlsContext::create(const Config& cfg) {
  std::shared_ptr<TlsContext> t(new TlsContext());
  ERR_clear_error();
  t->ctx_ = SSL_CTX_new(TLS_client_method());
  if (t->ctx_ == nullptr) {
    return Error{Errc::tls, "TLS: cannot create an OpenSSL context: " + ssl_reason()};
  }
  SSL_CTX* ctx = t->ctx_;
  SSL_CTX_set_app_data(ctx, t.get());
  const int min_version = cfg.tls_min_version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION;
  SSL_CTX_set_min_proto_version(ctx, min_version);
  if (!cfg.tls_ciphers.empty() && SSL_CTX_set_cipher_list(ctx, cfg.tls_ciphers.c_str()) != 1) {
    ERR_clear_error();
    return Error{Errc::invalid_argument,
                 "config: tls_ciphers = '" + cfg.tls_ciphers + "' names no cipher OpenSSL knows"};
  }
  if (!cfg.tls_ciphersuites.empty() &&
      SSL_CTX_set_ciphersuites(ctx, cfg.tls_ciphersuites.c_str()) != 1) {
    ERR_clear_error();
    return Error{Errc::invalid_argument, "config: tls_ciphersuites = '" + cfg.tls_ciphersuites +
                                             "' names no TLS 1.3 suite OpenSSL knows"};
  }
  t->verify_ = !cfg.tls_insecure_skip_verify;
  if (t->verify_) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_cb);
    if (!cfg.tls_ca_file.empty() || !cfg.tls_ca_dir.empty()) {
      const char* file = cfg.tls_ca_file.empty() ? nullptr : cfg.tls_ca_file.c_str();
      const char* dir = cfg.tls_ca_dir.empty() ? nullptr : cfg.tls_ca_dir.c_str();
      if (SSL_CTX_load_verify_locations(ctx, file, dir) != 1) {
        return file != nullptr ? bad_file("tls_ca_file", cfg.tls_ca_file)
                               : bad_file("tls_ca_dir", cfg.tls_ca_dir);
      }
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
      return Error{Errc::tls, "TLS: cannot load the system trust store: " + ssl_reason()};
    }
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  if (!cfg.tls_cert_file.empty()) {
    KeyPassword pw{cfg.tls_key_password};
    SSL_CTX_set_default_passwd_cb(ctx, password_cb);
    SSL_CTX_set_default_passwd_cb_userdata(ctx, &pw);
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg.tls_cert_file.c_str()) != 1) {
      return bad_file("tls_cert_file", cfg.tls_cert_file);
    }
    const bool loaded =
        SSL_CTX_use_PrivateKey_file(ctx, cfg.tls_key_file.c_str(), SSL_FILETYPE_PEM) == 1;
    SSL_CTX_set_default_passwd_cb_userdata(ctx, nullptr);
    if (!loaded && ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
      ERR_clear_error();
      return Error{Errc::invalid_argument, "config: tls_key_file '" + cfg.tls_key_file +
                                               "' is not the key of tls_cert_file '" +
                                               cfg.tls_cert_file + "'"};
    }
    if (!loaded) {
      return bad_file("tls_key_file", cfg.tls_key_file,
                      cfg.tls_key_password.empty() ? "encrypted? set tls_key_password"
                                                   : "wrong tls_key_password?");
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
      ERR_clear_error();
      return Error{Errc::invalid_argument, "config: tls_key_file '" + cfg.tls_key_file +
                                               "' is not the key of tls_cert_file '" +
                                               cfg.tls_cert_file + "'"};
    }
  }
  t->resume_ = cfg.tls_session_resumption;
  if (t->resume_) {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, new_session_cb);
  } else {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  }
  return t;
}

TlsContext::~TlsContext() {
  for (auto& [peer, list] : sessions_) {
    for (SSL_SESSION* s : list) SSL_SESSION_free(s);
  }
  if (ctx_ != nullptr) SSL_CTX_free(ctx_);
}

ssl_session_st* TlsContext::take_session(const std::string& peer) {
  std::lock_guard lock(mu_);
  const auto it = sessions_.find(peer);
  if (it == sessions_.end()) return nullptr;
  auto& list = it->second;
  while (!list.empty()) {
    SSL_SESSION* s = list.back();
    if (SSL_SESSION_is_resumable(s) != 1) {
      list.pop_back();
      SSL_SESSION_free(s);
      continue;
    }
    if (SSL_SESSION_get_protocol_version(s) >= TLS1_3_VERSION) {
      list.pop_back();  // single use: the caller gets our reference
    } else {
      SSL_SESSION_up_ref(s);
    }
    return s;
  }
  return nullptr;
}

void TlsContext::remember(const std::string& peer, ssl_session_st* session) {
  std::lock_guard lock(mu_);
  auto& list = sessions_[peer];
  list.push_back(session);
  if (list.size() > kSessionsPerPeer) {
    SSL_SESSION_free(list.front());
    list.pop_front();
  }
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
    delete static_cast<Seen*>(SSL_get_ex_data(ssl_, seen_index()));
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
  auto seen = std::make_unique<Seen>();
  seen->peer = peer_;
  SSL_set_ex_data(ssl_, seen_index(), seen.release());
  SSL_set_connect_state(ssl_);
  if (is_ip_literal(name_)) {
    if (ctx_->verifies() &&
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), name_.c_str()) != 1) {
      return Error{Errc::tls, "TLS with " + endpoint_ + ": cannot verify IP '" + name_ + "'"};
    }
  } else {
    SSL_set_tlsext_host_name(ssl_, name_.c_str());  // SNI: names only, never IP literals
    if (ctx_->verifies()) {
      SSL_set_hostflags(ssl_, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
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
    failed_ = true;
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
  const auto* seen = static_cast<const Seen*>(SSL_get_ex_data(ssl_, seen_index()));
  if (ctx_->verifies() && verify != X509_V_OK) {
    const std::string cert = seen != nullptr && seen->have ? " (" + seen->subject + ")" : "";
    switch (verify) {
      case X509_V_ERR_CERT_HAS_EXPIRED:
        return Error{Errc::tls, who + "the server's certificate" + cert + " expired on " +
                                    (seen != nullptr ? seen->not_after : std::string("?"))};
      case X509_V_ERR_CERT_NOT_YET_VALID:
        return Error{Errc::tls, who + "the server's certificate" + cert + " is not valid before " +
                                    (seen != nullptr ? seen->not_before : std::string("?"))};
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
      case X509_V_ERR_HOSTNAME_MISMATCH:
      case X509_V_ERR_IP_ADDRESS_MISMATCH:
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
