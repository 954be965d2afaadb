// What --cluster adds to the demo's run (see cluster_story.hpp).
#include "cluster_story.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>

namespace demo {
namespace {

using namespace std::chrono_literals;

const char* kGroupName[] = {"killed master", "other masters"};

std::string percent(const PhaseSummary& p) {
  if (p.total.answered == 0) return "-";
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100 * p.no_api_share);
  return buf;
}

}  // namespace

ClusterStory::ClusterStory(RedisCluster& cluster, Timeline& timeline,
                           const std::vector<double>& weights,
                           const std::function<std::string(int)>& key_of)
    : cluster_(cluster), timeline_(timeline) {
  const auto& shards = cluster_.shards();
  ids_per_shard_.assign(shards.size(), 0);
  share_per_shard_.assign(shards.size(), 0.0);
  std::vector<std::size_t> shard_of(weights.size(), 0);
  for (std::size_t id = 0; id < weights.size(); ++id) {
    const int slot = key_slot(key_of(static_cast<int>(id)));
    for (std::size_t s = 0; s < shards.size(); ++s) {
      if (shards[s].first_slot <= slot && slot <= shards[s].last_slot) shard_of[id] = s;
    }
    ++ids_per_shard_[shard_of[id]];
    share_per_shard_[shard_of[id]] += weights[id];
  }
  for (std::size_t s = 1; s < shards.size(); ++s) {
    if (share_per_shard_[s] > share_per_shard_[victim_]) victim_ = s;
  }
  for (std::size_t id = 0; id < weights.size(); ++id) {
    group_.push_back(shard_of[id] == victim_ ? kKilled : kOthers);
    if (group_.back() == kKilled && probe_id_ < 0) probe_id_ = static_cast<int>(id);
  }
  timeline_.watch(kKilled);
}

int ClusterStory::group_of(int id) const {
  return id >= 0 && static_cast<std::size_t>(id) < group_.size()
             ? group_[static_cast<std::size_t>(id)]
             : kOthers;
}

double ClusterStory::since_kill(Poll::Clock::time_point t) const {
  return std::chrono::duration<double>(t - killed_at_).count();
}

void ClusterStory::print_layout() const {
  const auto& shards = cluster_.shards();
  std::printf(
      "redis: a private Redis Cluster on 127.0.0.1, %zu masters with one replica each, ready in "
      "%.2f s\n  (cluster bus on port + %d; cluster-node-timeout 1000 ms; "
      "cluster-require-full-coverage no: while a master is down the others serve their slots)\n",
      shards.size(), cluster_.start_seconds(), RedisCluster::kBusOffset);
  for (std::size_t s = 0; s < shards.size(); ++s) {
    const Shard& sh = shards[s];
    std::printf(
        "  slots %5d-%5d  master 127.0.0.1:%d (pid %d)  replica 127.0.0.1:%d (pid %d)  "
        "%3d of the %zu ids, %4.1f%% of the requests\n",
        sh.first_slot, sh.last_slot, sh.master, static_cast<int>(cluster_.pid(sh.master)),
        sh.replica, static_cast<int>(cluster_.pid(sh.replica)), ids_per_shard_[s], group_.size(),
        100 * share_per_shard_[s]);
  }
  std::printf(
      "  phase 2 kills the master of slots %d-%d (the largest share of the requests) with "
      "kill -9;\n  the near cache is off: rcache does not support it with a cluster yet\n",
      victim().first_slot, victim().last_slot);
}

void ClusterStory::watch_breaker(std::function<rcache::BreakerState()> state) {
  breaker_ = std::make_unique<Poll>(
      [this, state = std::move(state), last = std::optional<rcache::BreakerState>()]() mutable {
        const rcache::BreakerState now = state();
        if (!last || *last != now) timeline_.breaker(now);
        last = now;
        return false;  // until finish()
      },
      std::chrono::hours(24));
}

void ClusterStory::kill() {
  const Shard& v = victim();
  std::printf(
      "  >>> kill -9 master 127.0.0.1:%d (pid %d), slots %d-%d; its replica 127.0.0.1:%d "
      "should take over in ~2-2.5 s\n",
      v.master, static_cast<int>(cluster_.pid(v.master)), v.first_slot, v.last_slot, v.replica);
  timeline_.redis_down();
  timeline_.mark("kill -9 master");
  killed_at_ = Poll::Clock::now();
  cluster_.kill9(v.master);
  // ROLE on the replica, every 10 ms: the moment it calls itself master.
  promotion_ = std::make_unique<Poll>(
      [this, port = v.replica] {
        if (node_role(port) != "master") return false;
        timeline_.redis_up();
        timeline_.mark("replica promoted");
        return true;
      },
      20s);
  if (get_ && probe_id_ >= 0) {
    probe_ = std::make_unique<Poll>(
        [get = get_, id = probe_id_, promotion = promotion_.get()] {
          return promotion->when().has_value() && get(id);
        },
        20s);
  }
}

void ClusterStory::restart() {
  const Shard& v = victim();
  restarted_at_ = Poll::Clock::now();
  if (!cluster_.restart(v.master)) {
    std::printf("  >>> 127.0.0.1:%d did NOT restart\n", v.master);
    return;
  }
  timeline_.mark("old master restarted");
  std::printf(
      "  >>> restarted 127.0.0.1:%d (pid %d) with its nodes.conf and no data: it should rejoin "
      "as a replica of 127.0.0.1:%d\n",
      v.master, static_cast<int>(cluster_.pid(v.master)), v.replica);
  rejoin_ = std::make_unique<Poll>(
      [this, port = v.master, want = v.replica] {
        int following = 0;
        if (node_role(port, &following) != "slave" || following != want || !replica_in_sync(port)) {
          return false;
        }
        timeline_.mark("rejoined as a replica");
        return true;
      },
      15s);
}

void ClusterStory::report() {
  const Shard& v = victim();
  if (promotion_ && !promotion_told_ && promotion_->finished()) {
    promotion_told_ = true;
    if (const auto when = promotion_->when()) {
      promoted_after_ = since_kill(*when);
      const int other = cluster_.shards()[(victim_ + 1) % cluster_.shards().size()].master;
      const int owner = slot_owner(other, v.first_slot);
      std::printf(
          "  >>> promoted: 127.0.0.1:%d answers ROLE \"master\" %.2f s after the kill; CLUSTER "
          "SLOTS on 127.0.0.1:%d gives slots %d-%d to %s\n",
          v.replica, promoted_after_, other, v.first_slot, v.last_slot,
          owner == 0 ? "(no answer)" : ("127.0.0.1:" + std::to_string(owner)).c_str());
    } else {
      std::printf("  >>> replica 127.0.0.1:%d NOT promoted within 20 s of the kill\n", v.replica);
    }
  }
  if (probe_ && !probe_told_ && probe_->finished() && promoted_after_ >= 0) {
    probe_told_ = true;
    if (const auto when = probe_->when()) {
      served_again_after_ = since_kill(*when) - promoted_after_;
      timeline_.mark("rcache serves its slots again", timeline_.at(*when));
      std::printf(
          "  >>> served again: a GET on its slots through the service's rcache client (tried "
          "every 10 ms) succeeded %.3f s after the promotion\n",
          served_again_after_);
    } else {
      std::printf(
          "  >>> a GET on its slots through the service's rcache client did NOT succeed "
          "within 20 s\n");
    }
  }
  if (promoted_after_ >= 0 && !recovery_told_) {
    const double after = timeline_.redis_answers_resumed_after();
    if (after >= 0) {
      recovery_told_ = true;
      load_after_ = after;
      std::printf(
          "  >>> recovered: the load's calls on its slots answered from Redis again %.3f s after "
          "the promotion (%.2f s after the kill; its clients back off 200 ms after a 429)\n",
          after, promoted_after_ + after);
    }
  }
  if (rejoin_ && !rejoin_told_ && rejoin_->finished()) {
    rejoin_told_ = true;
    if (const auto when = rejoin_->when()) {
      rejoined_after_ = std::chrono::duration<double>(*when - restarted_at_).count();
      std::printf(
          "  >>> rejoined: 127.0.0.1:%d is a replica of 127.0.0.1:%d, in sync, %.2f s after its "
          "restart (ROLE, INFO replication)\n",
          v.master, v.replica, rejoined_after_);
    } else {
      std::printf("  >>> 127.0.0.1:%d did NOT rejoin as a replica of 127.0.0.1:%d within 15 s\n",
                  v.master, v.replica);
    }
  }
}

void ClusterStory::finish() {
  breaker_.reset();
  if (promotion_) promotion_->wait();
  if (probe_ && promotion_ && !promotion_->when()) probe_.reset();  // nothing to wait for
  if (probe_) probe_->wait();
  if (rejoin_) rejoin_->wait();
  report();
  if (promoted_after_ >= 0 && !recovery_told_) {
    std::printf("  >>> NOT recovered within the run: no call on its slots answered from Redis\n");
  }
}

void ClusterStory::print_tables(const std::vector<Phase>& phases) const {
  std::vector<PhaseSummary> rows[2];
  for (int g : {kKilled, kOthers}) {
    const auto seconds = timeline_.group_seconds(g);
    for (const auto& p : phases) rows[g].push_back(summarize(seconds, p));
  }
  std::printf(
      "\nthe same phases by keys: the killed master's slots (%d-%d) and the other two masters'\n"
      "%-13s %-13s %8s %8s %10s %10s %8s %5s %5s %6s %6s\n",
      victim().first_slot, victim().last_slot, "phase", "keys", "requests", "answered",
      "answered/s", "from cache", "from API", "429", "shed", "errors", "p99 ms");
  for (std::size_t i = 0; i < phases.size(); ++i) {
    if (!phases[i].counted) continue;
    for (int g : {kKilled, kOthers}) {
      const PhaseSummary& r = rows[g][i];
      std::printf("%-13s %-13s %8ld %8ld %10.1f %10ld %8ld %5ld %5ld %6ld %6.1f\n", r.name.c_str(),
                  kGroupName[g], r.total.requests, r.total.answered, r.answered_per_s,
                  r.total.no_api, r.total.answered - r.total.no_api, r.total.rate_limited,
                  r.total.shed, r.total.errors, r.p99_ms);
    }
  }
  std::printf(
      "from cache / from API: answered without / with a call to the API. shed: 429s from the "
      "service itself\n(a call whose master was unreachable went to the API, and beyond the "
      "outage load cap of 4/s it was turned away).\n");
  if (phases.size() < 4) return;
  const Shard& v = victim();
  std::printf("\nfailover: master 127.0.0.1:%d (slots %d-%d) killed with kill -9; ", v.master,
              v.first_slot, v.last_slot);
  if (promoted_after_ < 0) {
    std::printf("its replica was NOT promoted\n");
  } else {
    std::printf("replica 127.0.0.1:%d promoted %.2f s later (asked with ROLE every 10 ms);\n",
                v.replica, promoted_after_);
    if (served_again_after_ >= 0 && load_after_ >= 0) {
      std::printf(
          "  rcache served those slots again %.3f s after the promotion (a GET every 10 ms); the "
          "load's calls on them\n  were answered from Redis again %.3f s after it (its clients "
          "back off 200 ms after a 429)\n",
          served_again_after_, load_after_);
    }
  }
  // The whole seconds the master was down (the kill is at a second's start).
  const auto down = timeline_.redis_down_intervals();
  const int from = down.empty() ? 0 : static_cast<int>(std::ceil(down.front().first - 0.1));
  const int to = down.empty() ? 0 : static_cast<int>(std::floor(down.front().second));
  if (to > from) {
    double answered[2] = {0, 0};
    long cached[2] = {0, 0};
    std::vector<double> ms[2];
    for (int g : {kKilled, kOthers}) {
      const auto seconds = timeline_.group_seconds(g);
      for (int i = from; i < to && i < static_cast<int>(seconds.size()); ++i) {
        const Second& sec = seconds[static_cast<std::size_t>(i)];
        answered[g] += static_cast<double>(sec.answered);
        cached[g] += sec.no_api;
        ms[g].insert(ms[g].end(), sec.latencies_ms.begin(), sec.latencies_ms.end());
      }
    }
    std::sort(ms[kOthers].begin(), ms[kOthers].end());
    const double p50 = ms[kOthers].empty() ? 0 : ms[kOthers][(ms[kOthers].size() - 1) / 2];
    std::printf(
        "  while it was down (the whole seconds t=%d-%d): its keys %.1f answered/s (%ld from "
        "cache) against %.1f/s in steady;\n  the other masters' keys %.1f answered/s (%ld from "
        "cache), p50 %.2f ms, against %.1f/s, p50 %.2f ms in steady\n  (fewer answers: the same "
        "clients spent part of that time backing off after 429s on the killed master's keys)\n",
        from, to, answered[kKilled] / (to - from), cached[kKilled], rows[kKilled][1].answered_per_s,
        answered[kOthers] / (to - from), cached[kOthers], p50, rows[kOthers][1].answered_per_s,
        rows[kOthers][1].p50_ms);
  }
  std::printf(
      "  %s phase: the killed master's keys %s from cache (%s in steady), %ld shed; the other "
      "masters' keys %s (%s in steady), %ld shed\n",
      phases[2].name.c_str(), percent(rows[kKilled][2]).c_str(), percent(rows[kKilled][1]).c_str(),
      rows[kKilled][2].total.shed, percent(rows[kOthers][2]).c_str(),
      percent(rows[kOthers][1]).c_str(), rows[kOthers][2].total.shed);
  char rejoined[96] = "did not rejoin within the run";
  if (rejoined_after_ >= 0) {
    std::snprintf(rejoined, sizeof rejoined, "rejoined as a replica %.2f s after its restart",
                  rejoined_after_);
  }
  std::printf(
      "after restart: the old master came back empty and %s; its slots stayed on the promoted "
      "replica,\n  which had the data (the killed master's keys %s from cache): nothing to "
      "refill, unlike a single redis-server restarted empty\n",
      rejoined, percent(rows[kKilled][3]).c_str());
}

std::string ClusterStory::result_fields() const {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                " cluster=1 promoted_after_s=%.3f served_again_after_promotion_s=%.3f "
                "load_from_redis_after_promotion_s=%.3f rejoined_after_s=%.3f",
                promoted_after_, served_again_after_, load_after_, rejoined_after_);
  return buf;
}

}  // namespace demo
