// A program outside the rcache tree that uses rcache's Prometheus exposition the way an
// application with its own prometheus-cpp set-up does: built against the installed library
// through the CMake target rcache::prometheus, which must bring prometheus-cpp's headers and
// libraries (core for the serializer, pull for the exposer) along with rcache's.
#include <prometheus/exposer.h>
#include <prometheus/text_serializer.h>

#include <cstdio>
#include <memory>
#include <rcache/prometheus.hpp>
#include <rcache/rcache.hpp>
#include <string>

int main() {
  auto cfg = rcache::Config::from_url("redis://127.0.0.1:1/0");  // nothing listens there
  if (!cfg) return 1;
  cfg->log_level = rcache::LogLevel::off;
  auto client = rcache::Client::create(*cfg);
  if (!client) return 2;
  (void)(*client)->get("k");  // Redis is absent: answered `disabled`, and counted

  // rcache's own rendering, and its collectable rendered by prometheus-cpp: both must show it.
  const std::string text = rcache::metrics_text(**client);
  auto collectable = rcache::make_collectable(**client);
  const std::string serialized = prometheus::TextSerializer().Serialize(collectable->Collect());
  // An exposer of the application's own, on a free loopback port, serving rcache's metrics.
  prometheus::Exposer exposer("127.0.0.1:0");
  exposer.RegisterCollectable(collectable);
  const auto ports = exposer.GetListeningPorts();

  const bool ok = text.find("rcache_requests_total") != std::string::npos &&
                  serialized.find("rcache_requests_total") != std::string::npos &&
                  ports.size() == 1 && ports[0] > 0;
  std::printf("rcache %s prometheus consumer: %zu bytes of metrics, exposer on port %d\n",
              rcache::version(), text.size(), ports.empty() ? 0 : ports[0]);
  return ok ? 0 : 3;
}
