// Cache-aside in one file: a struct cached as JSON in front of a slow API.
//
// Needs rcache, nlohmann-json (Debian: nlohmann-json3-dev) and a Redis:
//   c++ -std=c++20 cache_aside.cpp -o cache_aside $(pkg-config --cflags --libs rcache)
// (add $(pkg-config --cflags nlohmann_json) if nlohmann is not in /usr/include)
//   REDIS_URL=redis://127.0.0.1:6379/0 ./cache_aside
//
// Looks products up through rcache::get_or_load_as: the first lookup of an id calls the API
// (100 ms) and stores the answer as JSON for 5 minutes; the next ones are answered by Redis.
// Prints where each answer came from and how long it took, then the client's statistics. Exits 1
// if a repeated lookup was not answered by the cache (Redis down: answers still come, uncached).
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <rcache/json_codec.hpp>
#include <rcache/rcache.hpp>
#include <string>
#include <thread>
#include <vector>

namespace shop {

struct Product {
  int id = 0;
  std::string name;
  double price = 0;
  std::vector<std::string> tags;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Product, id, name, price, tags)

int api_calls = 0;

// The slow API (an HTTP call in real life): 100 ms, std::nullopt when there is no such product.
std::optional<Product> fetch_product(int id) {
  ++api_calls;
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  if (id <= 0) return std::nullopt;
  return Product{id, "Widget " + std::to_string(id), 2.5 * id, {"demo", "widget"}};
}

}  // namespace shop

// The one line that makes Product cacheable: stored as JSON text through its to_json/from_json.
template <>
struct rcache::Codec<shop::Product> : rcache::JsonCodec<shop::Product> {};

namespace {

// One lookup, printed; the answer's source, or std::nullopt on an error.
std::optional<rcache::Loaded::Source> lookup(rcache::Client& cache, const rcache::LoadOptions& o,
                                             int id) {
  const auto start = std::chrono::steady_clock::now();
  auto r = rcache::get_or_load_as<shop::Product>(cache, "product:" + std::to_string(id), o,
                                                 [id] { return shop::fetch_product(id); });
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (!r) {
    std::printf("product %3d: error %s (%.1f ms)\n", id, r.error().to_string().c_str(), ms);
    return std::nullopt;
  }
  const std::string from(rcache::to_string(r->source));
  const char* note = r->bypassed ? "  [Redis unavailable: not cached]" : "";
  if (r->value) {
    std::printf("product %3d: %-10s %6.2f  from %-14s %7.2f ms%s\n", id, r->value->name.c_str(),
                r->value->price, from.c_str(), ms, note);
  } else {
    std::printf("product %3d: %-17s  from %-14s %7.2f ms%s\n", id, "(not found)", from.c_str(), ms,
                note);
  }
  return r->source;
}

bool answered_by_cache(rcache::Loaded::Source s) {
  using S = rcache::Loaded::Source;
  return s == S::cache || s == S::near_cache || s == S::negative_cache;
}

}  // namespace

int main() {
  auto cfg = rcache::Config::from_env();  // REDIS_URL, REDIS_PASSWORD, REDIS_DB
  if (!cfg) {
    std::fprintf(stderr, "%s\n", cfg.error().to_string().c_str());
    return 1;
  }
  cfg->key_prefix = "cache_aside:";
  auto client = rcache::Client::create(*cfg);  // does not fail because Redis is down
  if (!client) {
    std::fprintf(stderr, "%s\n", client.error().to_string().c_str());
    return 1;
  }
  rcache::Client& cache = **client;
  (void)cache.delete_pattern("*");  // start cold: only keys under "cache_aside:"

  rcache::LoadOptions o;
  o.ttl = std::chrono::minutes(5);
  o.negative_cache = true;  // remember "not found" too, for negative_ttl (5 s)

  bool ok = true;
  auto expect_cached = [&](int id) {
    const int calls = shop::api_calls;
    const auto source = lookup(cache, o, id);
    if (!source || !answered_by_cache(*source) || shop::api_calls != calls) {
      std::fprintf(stderr, "cache_aside: the repeated lookup of product %d was not a cache hit\n",
                   id);
      ok = false;
    }
  };
  (void)lookup(cache, o, 42);  // miss: the API, then stored
  expect_cached(42);           // hit
  (void)lookup(cache, o, 7);
  expect_cached(7);
  expect_cached(42);
  (void)lookup(cache, o, 0);  // not found, remembered
  expect_cached(0);

  std::printf("API calls: %d for 7 lookups\n", shop::api_calls);
  std::printf("stats: %s\n", cache.stats().to_json().c_str());
  (void)cache.delete_pattern("*");
  return ok ? 0 : 1;
}
