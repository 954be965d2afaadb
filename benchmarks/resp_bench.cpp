// Micro-benchmarks of the pure pieces on the hot path: RESP encoding of a SET (ours vs hiredis'
// redisFormatCommandArgv) and reply parsing of a pipelined batch.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "protocol/resp.hpp"

namespace {

void BM_EncodeSet_RespWriter(benchmark::State& state) {
  const std::string value(static_cast<std::size_t>(state.range(0)), 'v');
  std::string out;
  for (auto _ : state) {
    out.clear();
    rcache::detail::RespWriter w(out);
    w.begin(5);
    w.arg("SET");
    w.arg("prefix:", "bench:key:1234");
    w.arg(value);
    w.arg("PX");
    w.arg(std::int64_t{60000});
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_EncodeSet_RespWriter)->Arg(100)->Arg(4096);

void BM_EncodeSet_Hiredis(benchmark::State& state) {
  const std::string value(static_cast<std::size_t>(state.range(0)), 'v');
  for (auto _ : state) {
    const std::string key = std::string("prefix:") + "bench:key:1234";
    const char* argv[] = {"SET", key.c_str(), value.c_str(), "PX", "60000"};
    const size_t lens[] = {3, key.size(), value.size(), 2, 5};
    char* cmd = nullptr;
    const int n = redisFormatCommandArgv(&cmd, 5, argv, lens);
    benchmark::DoNotOptimize(n);
    redisFreeCommand(cmd);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_EncodeSet_Hiredis)->Arg(100)->Arg(4096);

void BM_ParsePipelinedReplies(benchmark::State& state) {
  std::string batch;
  for (int i = 0; i < 64; ++i) batch += "$100\r\n" + std::string(100, 'x') + "\r\n";
  for (auto _ : state) {
    redisReader* r = rcache::detail::create_reader();
    redisReaderFeed(r, batch.data(), batch.size());
    void* reply = nullptr;
    int n = 0;
    while (redisReaderGetReply(r, &reply) == REDIS_OK && reply != nullptr) {
      freeReplyObject(reply);
      ++n;
    }
    benchmark::DoNotOptimize(n);
    redisReaderFree(r);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * 64);
}
BENCHMARK(BM_ParsePipelinedReplies);

}  // namespace

BENCHMARK_MAIN();
