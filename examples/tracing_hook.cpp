// Tracing rcache calls with Config::op_hook: every call becomes a span (name, start and end
// time, attributes in OpenTelemetry's database conventions), here kept in memory and printed as
// JSON lines. With OpenTelemetry C++ the hook body would start and end a real span the same way.
// Built and run by the test suite; it exits 1 when a call has no span.
#include <chrono>
#include <cstdio>
#include <mutex>
#include <rcache/rcache.hpp>
#include <string>
#include <vector>

namespace {

struct Span {
  std::string name;  // "rcache.get"
  std::chrono::system_clock::time_point start, end;
  std::string operation, outcome, error, peer;
  std::uint32_t keys = 0;
};

// A tiny tracer: the hook must be short and must not block, so it only records; export happens
// elsewhere (here: at the end).
class Tracer {
 public:
  void on_op(const rcache::OpEvent& e) {
    const auto end = std::chrono::system_clock::now();
    Span s;
    s.name = "rcache." + std::string(e.op);
    s.start = end - std::chrono::duration_cast<std::chrono::system_clock::duration>(e.duration);
    s.end = end;
    s.operation = std::string(e.op);
    s.outcome = std::string(e.outcome);
    if (s.outcome == "error") s.error = std::string(rcache::to_string(e.error));
    s.peer = std::string(e.node);
    s.keys = e.keys;
    std::lock_guard lock(mu_);
    spans_.push_back(std::move(s));
  }
  std::vector<Span> spans() {
    std::lock_guard lock(mu_);
    return spans_;
  }

 private:
  std::mutex mu_;
  std::vector<Span> spans_;
};

long long micros(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

}  // namespace

int main() {
  auto cfg = rcache::Config::from_env();  // REDIS_URL, REDIS_PASSWORD, REDIS_DB
  if (!cfg) {
    std::fprintf(stderr, "%s\n", cfg.error().to_string().c_str());
    return 1;
  }
  Tracer tracer;
  cfg->key_prefix = "tracing:";
  cfg->op_hook = [&tracer](const rcache::OpEvent& e) { tracer.on_op(e); };
  auto client = rcache::Client::create(*cfg);
  if (!client) {
    std::fprintf(stderr, "%s\n", client.error().to_string().c_str());
    return 1;
  }
  rcache::Client& cache = **client;

  int calls = 0;
  (void)cache.set("user:1", "{\"name\":\"Ada\"}", std::chrono::minutes(5));
  ++calls;
  (void)cache.get("user:1");
  ++calls;
  (void)cache.get("user:2");
  ++calls;
  (void)cache.mget({"user:1", "user:2", "user:3"});
  ++calls;
  rcache::LoadOptions o;
  o.ttl = std::chrono::minutes(5);
  (void)cache.get_or_load("user:9", o, [] {
    return rcache::Result<std::optional<std::string>>(std::optional<std::string>("{}"));
  });
  ++calls;
  (void)cache.delete_pattern("user:*");
  ++calls;

  const auto spans = tracer.spans();
  for (const auto& s : spans) {
    std::printf(
        "{\"name\":\"%s\",\"start_us\":%lld,\"end_us\":%lld,\"attributes\":{\"db.system\":"
        "\"redis\",\"db.operation\":\"%s\",\"rcache.keys\":%u,\"rcache.outcome\":\"%s\","
        "\"error.type\":\"%s\",\"server.address\":\"%s\"}}\n",
        s.name.c_str(), micros(s.start), micros(s.end), s.operation.c_str(), s.keys,
        s.outcome.c_str(), s.error.c_str(), s.peer.c_str());
  }
  if (static_cast<int>(spans.size()) != calls) {
    std::fprintf(stderr, "tracing_hook: %d calls but %zu spans\n", calls, spans.size());
    return 1;
  }
  std::printf("tracing_hook: %d calls, %zu spans\n", calls, spans.size());
  return 0;
}
