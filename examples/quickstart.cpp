// The README quickstart, compiled and run by the test suite.
#include <cstdio>
#include <rcache/rcache.hpp>

int main() {
  auto cfg = rcache::Config::from_env();  // REDIS_URL, REDIS_PASSWORD, REDIS_DB
  if (!cfg) {
    std::fprintf(stderr, "%s\n", cfg.error().to_string().c_str());
    return 1;
  }
  cfg->key_prefix = "quickstart:";
  auto client = rcache::Client::create(*cfg);  // does not fail because Redis is down
  if (!client) {
    std::fprintf(stderr, "%s\n", client.error().to_string().c_str());
    return 1;
  }
  rcache::Client& cache = **client;

  if (auto ok = cache.set("greeting", "hello", std::chrono::minutes(5)); !ok) {
    std::fprintf(stderr, "set failed: %s\n", ok.error().to_string().c_str());
    return 1;
  }
  auto v = cache.get("greeting");  // Result<std::optional<std::string>>
  if (!v) {
    std::fprintf(stderr, "get failed: %s\n", v.error().to_string().c_str());
    return 1;
  }
  std::printf("greeting = %s\n", v->value_or("(miss)").c_str());

  auto removed = cache.delete_pattern("*");  // SCAN + UNLINK, only keys under the prefix
  std::printf("removed %llu keys\n", static_cast<unsigned long long>(removed.value_or(0)));
  return 0;
}
