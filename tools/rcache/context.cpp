// rcache CLI: the Context: configuration from the URL and options, the Client, output and
// failure reports.
#include <cstdio>
#include <cstdlib>

#include "cli.hpp"
#include "text.hpp"

namespace rcache::cli {
namespace {

void write_all(std::FILE* f, std::string_view bytes) {
  if (!bytes.empty()) std::fwrite(bytes.data(), 1, bytes.size(), f);
}

// The library's messages are written for programs that set degraded_mode; an operator did not.
std::string clean(std::string message) {
  constexpr std::string_view kNoise = " and degraded_mode is fail_fast";
  if (const auto at = message.find(kNoise); at != std::string::npos)
    message.erase(at, kNoise.size());
  return message;
}

std::string json_text(std::string_view s) {
  return json_string(is_utf8(s) ? std::string(s) : escape_key(s));
}

}  // namespace

Result<Config> Context::config() const {
  std::string url = "redis://127.0.0.1:6379";
  if (inv_.global.url) {
    url = *inv_.global.url;
  } else if (const char* env = std::getenv("REDIS_URL"); env != nullptr && *env != '\0') {
    url = env;
  }
  auto cfg = Config::from_url(url);
  if (!cfg) return std::move(cfg).error();
  // A URL's timeout option sets the whole-call deadline; the CLI makes no retries within it
  // worth a shorter attempt, so each attempt gets all of it.
  std::chrono::milliseconds t = kDefaultTimeout;
  if (inv_.global.timeout) {
    t = *inv_.global.timeout;
    cfg->connect_timeout = t;
  } else if (cfg->deadline != Config{}.deadline) {
    t = cfg->deadline;
  }
  cfg->command_timeout = t;
  cfg->deadline = t;
  cfg->client_name = "rcache-cli";
  if (inv_.flag("--legacy-hex")) cfg->legacy_hex = true;
  if (inv_.global.verbose) {
    cfg->log_level = LogLevel::info;
    cfg->log_sink = [](LogLevel, std::string_view line) {
      std::string text = "rcache: [library] " + std::string(line) + "\n";
      write_all(stderr, text);
    };
  } else {
    // Every failure that matters reaches the command as an Error, which it reports.
    cfg->log_level = LogLevel::off;
  }
  return cfg;
}

Result<Client*> Context::client(bool fail_fast) {
  if (client_) return client_.get();
  auto cfg = config();
  if (!cfg) return std::move(cfg).error();
  if (fail_fast) cfg->degraded_mode = DegradedMode::fail_fast;
  auto c = Client::create(std::move(*cfg));
  if (!c) return std::move(c).error();
  client_ = std::move(*c);
  return client_.get();
}

std::string Context::endpoint() const {
  auto cfg = config();
  if (!cfg) return "the URL";
  const std::string s = cfg->to_string();
  return s.substr(0, s.find(' '));
}

void Context::out(std::string_view bytes) const {
  write_all(stdout, bytes);
}

void Context::note(std::string_view line) const {
  if (quiet() || json()) return;
  write_all(stdout, line);
  write_all(stdout, "\n");
}

void Context::warn(std::string_view line) const {
  if (quiet()) return;
  write_all(stderr, "rcache: " + std::string(line) + "\n");
}

int Context::fail(int code, std::string_view message) const {
  std::fflush(stdout);
  write_all(stderr, "rcache: " + std::string(message) + "\n");
  if (json()) {
    write_all(stdout, "{\"ok\":false,\"exit_code\":" + std::to_string(code) +
                          ",\"error\":" + json_text(message) + "}\n");
  }
  return code;
}

int Context::fail(const Error& e, std::string_view doing) const {
  std::string m(doing);
  if (!m.empty()) m += ": ";
  m += describe(e);
  return fail(kFailure, m);
}

std::variant<Client*, int> open_client(Context& ctx, std::string_view doing, bool fail_fast) {
  auto cfg = ctx.config();
  if (!cfg) {
    const char* from = ctx.inv().global.url ? "--url" : "REDIS_URL";
    return ctx.fail(kUsage, std::string(doing) + ": " + from + ": " + cfg.error().message);
  }
  auto c = ctx.client(fail_fast);
  if (!c) return ctx.fail(c.error(), doing);
  return *c;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string describe(const Error& e) {
  std::string what;
  switch (e.code) {
    case Errc::connection:
      what = "cannot reach Redis";
      break;
    case Errc::auth:
      what = "authentication failed";
      break;
    case Errc::tls:
      what = "TLS handshake failed";
      break;
    case Errc::timeout:
      what = "timed out (see --timeout)";
      break;
    case Errc::server:
      what = "server error";
      break;
    case Errc::protocol:
      what = "protocol error";
      break;
    case Errc::invalid_argument:
      what = "invalid argument";
      break;
    case Errc::disabled:
      what = "Redis unreachable (client disabled)";
      break;
    case Errc::circuit_open:
      what = "circuit breaker open after repeated failures";
      break;
    case Errc::rejected:
      what = "too many calls in flight";
      break;
    case Errc::corrupt_value:
      what = "the stored value cannot be decoded";
      break;
    case Errc::too_large:
      what = "too large";
      break;
    case Errc::shutdown:
      what = "client shutting down";
      break;
  }
  if (what.empty()) what = std::string(to_string(e.code));
  return what + ": " + clean(e.message);
}

}  // namespace rcache::cli
