// Envelope encode/decode throughput beside raw zlib compress2/uncompress on the same data, and
// the size saved, on a generated Airtable-like JSON corpus (records with text, numbers and
// nested arrays), at zlib levels 1, 6 and 9.
#include <benchmark/benchmark.h>
#include <zlib.h>

#ifdef RCACHE_BENCH_LIBDEFLATE
#include <libdeflate.h>
#endif

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "codec/envelope.hpp"

namespace {

// A page of Airtable-style records, deterministic.
std::string airtable_page(std::size_t target_bytes) {
  std::mt19937 rng(2026);
  static const char* names[] = {
      "Acme Corp",           "Globex",           "Initech",          "Umbrella", "Hooli",
      "Vandelay Industries", "Stark Industries", "Wayne Enterprises"};
  static const char* status[] = {"Active", "Churned", "Trial", "Prospect"};
  static const char* words[] = {"renewal",     "discount", "onboarding", "called",
                                "requested",   "invoice",  "priority",   "support",
                                "integration", "meeting",  "follow",     "up",
                                "contract",    "signed",   "pending",    "review"};
  std::string s = R"({"records":[)";
  for (int i = 0; s.size() < target_bytes; ++i) {
    if (i > 0) s += ",";
    s += R"({"id":"rec)" + std::to_string(100000 + rng() % 900000) + R"(","createdTime":"2026-)";
    s += std::to_string(1 + rng() % 12) + "-" + std::to_string(1 + rng() % 28) +
         R"(T10:00:00.000Z",)";
    s += R"("fields":{"Name":")" + std::string(names[rng() % 8]) + R"(","Status":")" +
         status[rng() % 4] + R"(","Seats":)" + std::to_string(rng() % 500) + R"(,"MRR":)" +
         std::to_string(rng() % 100000) + "." + std::to_string(rng() % 100) + R"(,"Notes":")";
    for (int w = 0; w < 8 + static_cast<int>(rng() % 20); ++w) {
      s += words[rng() % 16];
      s += ' ';
    }
    s += R"(","Tags":[)";
    for (int t = 0; t < 1 + static_cast<int>(rng() % 4); ++t) {
      s += (t ? ",\"" : "\"") + std::string(words[rng() % 16]) + "\"";
    }
    s += R"(],"Contacts":[{"email":"user)" + std::to_string(rng() % 10000) +
         R"(@example.com","score":)" + std::to_string(rng() % 100) + "}]}}";
  }
  s += "]}";
  return s;
}

const std::string& corpus() {
  static const std::string c = airtable_page(256 * 1024);
  return c;
}

rcache::detail::EnvelopeOptions opts(int level) {
  rcache::detail::EnvelopeOptions o;
  o.level = level;
  return o;
}

void BM_EnvelopeEncode(benchmark::State& state) {
  const auto o = opts(static_cast<int>(state.range(0)));
  const auto& data = corpus();
  std::size_t stored = 0;
  for (auto _ : state) {
    auto e = rcache::detail::encode_value(data, o);
    stored = e.view(data).size();
    benchmark::DoNotOptimize(stored);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * data.size()));
  state.counters["stored/original"] =
      static_cast<double>(stored) / static_cast<double>(data.size());
}
BENCHMARK(BM_EnvelopeEncode)->Arg(1)->Arg(6)->Arg(9);

void BM_RawZlibCompress(benchmark::State& state) {
  const int level = static_cast<int>(state.range(0));
  const auto& data = corpus();
  std::string out(compressBound(static_cast<uLong>(data.size())), '\0');
  uLongf n = 0;
  for (auto _ : state) {
    n = static_cast<uLongf>(out.size());
    compress2(reinterpret_cast<Bytef*>(out.data()), &n, reinterpret_cast<const Bytef*>(data.data()),
              static_cast<uLong>(data.size()), level);
    benchmark::DoNotOptimize(n);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * data.size()));
  state.counters["stored/original"] = static_cast<double>(n) / static_cast<double>(data.size());
}
BENCHMARK(BM_RawZlibCompress)->Arg(1)->Arg(6)->Arg(9);

void BM_EnvelopeDecode(benchmark::State& state) {
  const auto o = opts(static_cast<int>(state.range(0)));
  const auto& data = corpus();
  const std::string stored(rcache::detail::encode_value(data, o).view(data));
  for (auto _ : state) {
    auto r = rcache::detail::decode_value(std::string(stored), o, "bench");
    benchmark::DoNotOptimize(r.ok());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * data.size()));
}
BENCHMARK(BM_EnvelopeDecode)->Arg(1)->Arg(6)->Arg(9);

void BM_RawZlibUncompress(benchmark::State& state) {
  const int level = static_cast<int>(state.range(0));
  const auto& data = corpus();
  std::string z(compressBound(static_cast<uLong>(data.size())), '\0');
  uLongf zn = static_cast<uLongf>(z.size());
  compress2(reinterpret_cast<Bytef*>(z.data()), &zn, reinterpret_cast<const Bytef*>(data.data()),
            static_cast<uLong>(data.size()), level);
  z.resize(zn);
  for (auto _ : state) {
    std::string copy(z);  // the envelope path also starts from a fresh reply buffer
    std::string out(data.size(), '\0');
    uLongf n = static_cast<uLongf>(out.size());
    uncompress(reinterpret_cast<Bytef*>(out.data()), &n,
               reinterpret_cast<const Bytef*>(copy.data()), static_cast<uLong>(copy.size()));
    benchmark::DoNotOptimize(n);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * data.size()));
}
BENCHMARK(BM_RawZlibUncompress)->Arg(1)->Arg(6)->Arg(9);

// The sizes of issue 11's table: a 4 KiB JSON value (compressed) and a 64 KiB random one
// (stored plain), each beside what a fresh compress2() per value costs (the envelope before the
// per-thread stream and the entropy sample) and beside copying the value plainly.
std::string random_value(std::size_t n) {
  std::mt19937_64 rng(11);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

const std::string& value_of(std::int64_t kind) {
  static const std::string json4k = airtable_page(4096).substr(0, 4096);
  static const std::string noise64k = random_value(std::size_t{64} * 1024);
  if (kind == 2) return corpus();
  return kind == 0 ? json4k : noise64k;
}

const char* label_of(std::int64_t kind) {
  return kind == 0 ? "4 KiB JSON" : kind == 1 ? "64 KiB random" : "256 KiB JSON";
}

void BM_EncodeTableValue(benchmark::State& state) {
  const auto& data = value_of(state.range(0));
  const auto o = opts(1);
  std::size_t stored = 0;
  for (auto _ : state) {
    auto e = rcache::detail::encode_value(data, o);
    stored = e.view(data).size();
    benchmark::DoNotOptimize(stored);
  }
  state.SetLabel(label_of(state.range(0)));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * data.size()));
  state.counters["stored/original"] =
      static_cast<double>(stored) / static_cast<double>(data.size());
}
BENCHMARK(BM_EncodeTableValue)->Arg(0)->Arg(1)->Arg(2);

void BM_FreshCompress2TableValue(benchmark::State& state) {
  const auto& data = value_of(state.range(0));
  for (auto _ : state) {
    uLongf n = compressBound(static_cast<uLong>(data.size()));
    std::unique_ptr<char[]> z(new char[n]);
    compress2(reinterpret_cast<Bytef*>(z.get()), &n, reinterpret_cast<const Bytef*>(data.data()),
              static_cast<uLong>(data.size()), 1);
    benchmark::DoNotOptimize(n);
  }
  state.SetLabel(label_of(state.range(0)));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * data.size()));
}
BENCHMARK(BM_FreshCompress2TableValue)->Arg(0)->Arg(1)->Arg(2);

void BM_PlainCopyTableValue(benchmark::State& state) {
  const auto& data = value_of(state.range(0));
  for (auto _ : state) {
    std::string copy(data);
    benchmark::DoNotOptimize(copy.data());
  }
  state.SetLabel(label_of(state.range(0)));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * data.size()));
}
BENCHMARK(BM_PlainCopyTableValue)->Arg(0)->Arg(1);

#ifdef RCACHE_BENCH_LIBDEFLATE
// Issue 11 asked for zlib beside a faster zlib-compatible encoder packaged for Debian 12:
// libdeflate (libdeflate-dev 1.14) writes zlib streams that plain zlib reads. Built only when
// libdeflate-dev is installed; rcache itself does not use it (see benchmarks/README.md).
void BM_LibdeflateTableValue(benchmark::State& state) {
  const auto& data = value_of(state.range(0));
  libdeflate_compressor* c = libdeflate_alloc_compressor(1);
  std::vector<char> out(libdeflate_zlib_compress_bound(c, data.size()));
  std::size_t n = 0;
  for (auto _ : state) {
    n = libdeflate_zlib_compress(c, data.data(), data.size(), out.data(), out.size());
    benchmark::DoNotOptimize(n);
  }
  libdeflate_free_compressor(c);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * data.size()));
  state.counters["stored/original"] = static_cast<double>(n) / static_cast<double>(data.size());
}
BENCHMARK(BM_LibdeflateTableValue)->Arg(0)->Arg(1)->Arg(2);
#endif

}  // namespace

BENCHMARK_MAIN();
