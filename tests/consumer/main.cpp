// A tiny program outside the rcache tree, built against the installed library.
#include <cstdio>
#include <rcache/rcache.hpp>

int main() {
  auto cfg = rcache::Config::from_url("redis://127.0.0.1:1/0");  // nothing listens there
  if (!cfg) return 1;
  cfg->log_level = rcache::LogLevel::off;
  auto client = rcache::Client::create(*cfg);
  if (!client) return 2;
  auto r = (*client)->get("k");
  // Redis is absent: the default degraded mode answers `disabled`, which proves the library,
  // its headers and its dependencies all linked and ran.
  std::printf("rcache %s consumer: get -> %s\n", rcache::version(),
              r.ok() ? "ok" : std::string(rcache::to_string(r.error().code)).c_str());
  return !r.ok() && r.error().code == rcache::Errc::disabled ? 0 : 3;
}
