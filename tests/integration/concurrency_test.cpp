// Many threads on one Client: no lost or crossed replies.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <thread>

#include "fixtures.hpp"

namespace rcache::test {
namespace {

class Concurrency : public RedisTest {};

// Each thread owns its keys and keeps a model of what it wrote; every reply is checked against
// the model, so a reply delivered to the wrong caller or lost shows up as a mismatch.
TEST_F(Concurrency, EightThreadsTenThousandMixedOpsEachMatchTheirModel) {
  constexpr int kThreads = 8;
  constexpr int kOps = 10000;
  std::vector<std::string> failures(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t) * 7919u + 1);
      std::map<std::string, std::string> model;
      std::int64_t counter = 0;
      const std::string counter_key = "t" + std::to_string(t) + ":counter";
      auto fail = [&](const std::string& what) {
        if (failures[t].empty()) failures[t] = what;
      };
      for (int i = 0; i < kOps && failures[t].empty(); ++i) {
        const std::string key = "t" + std::to_string(t) + ":k" + std::to_string(rng() % 50);
        switch (rng() % 6) {
          case 0:
          case 1: {  // set, sometimes through the future form
            std::string value = key + "#" + std::to_string(i) + std::string(rng() % 200, 'x');
            auto r = (i % 3 == 0) ? client().set_async(key, value).get() : client().set(key, value);
            if (!r.ok()) fail("set: " + r.error().to_string());
            model[key] = std::move(value);
            break;
          }
          case 2:
          case 3: {
            auto r = client().get(key);
            if (!r.ok()) {
              fail("get: " + r.error().to_string());
              break;
            }
            auto it = model.find(key);
            const bool want = it != model.end();
            if (r->has_value() != want || (want && **r != it->second)) {
              fail("get " + key + " returned a value this thread did not write");
            }
            break;
          }
          case 4: {
            const std::int64_t d = static_cast<std::int64_t>(rng() % 10) + 1;
            auto r = client().incrby(counter_key, d);
            counter += d;
            if (!r.ok() || *r != counter) fail("incrby mismatch");
            break;
          }
          case 5: {
            auto r = client().del(key);
            const std::int64_t want = model.erase(key);
            if (!r.ok() || *r != want) fail("del mismatch on " + key);
            break;
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(failures[t], "") << "thread " << t;
}

TEST_F(Concurrency, ManyAsyncCallsInFlightAllComplete) {
  constexpr int kCalls = 20000;
  std::atomic<int> ok{0}, wrong{0}, done{0};
  std::promise<void> all;
  for (int i = 0; i < kCalls; ++i) {
    const std::string key = "a" + std::to_string(i);
    client().incrby_async(key, i, [&, i](Result<std::int64_t> r) {
      if (r.ok() && *r == i) {
        ok.fetch_add(1);
      } else {
        wrong.fetch_add(1);
      }
      if (done.fetch_add(1) + 1 == kCalls) all.set_value();
    });
  }
  all.get_future().wait();
  EXPECT_EQ(ok.load(), kCalls);
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
}  // namespace rcache::test
