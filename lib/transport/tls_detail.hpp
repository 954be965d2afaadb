// What the two halves of the TLS code share (tls.cpp: sessions, messages; tls_context.cpp: the
// OpenSSL context, files, the session store): the verify callback's record of the certificates
// seen, and OpenSSL's last error reason.
//
// Thread safety: a TlsSeen belongs to one SSL (one connection attempt, one thread).
#pragma once

#include <openssl/ssl.h>

#include <string>

namespace rcache::detail {

// Attached to each SSL (ex_data at tls_seen_index()); filled by tls_verify_cb.
struct TlsSeen {
  std::string peer;   // the TlsContext session store's key
  bool have = false;  // the server's own certificate (depth 0)
  std::string subject, issuer, names, not_before, not_after;
  // The first certificate that failed verification (any depth), and where.
  int failed_depth = -1;
  std::string failed_subject, failed_not_before, failed_not_after;
};

int tls_seen_index();
int tls_verify_cb(int ok, X509_STORE_CTX* store);
int tls_new_session_cb(SSL* ssl, SSL_SESSION* session);
// The reason of the newest OpenSSL error on this thread's queue ("unable to get local issuer
// certificate"), or `fallback`.
std::string ssl_reason(const char* fallback = "unknown OpenSSL error");

}  // namespace rcache::detail
