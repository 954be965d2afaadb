// rcache CLI: backup: SCAN + DUMP + expiry of each key, streamed to a JSON-lines file with a
// bounded number of commands in flight; written as FILE.partial and renamed when complete.
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>

#include "backup_format.hpp"
#include "keyspace.hpp"
#include "progress.hpp"
#include "text.hpp"

namespace rcache::cli {
namespace {

// Replies held for the file but not yet written stop new submissions past this many bytes.
constexpr std::size_t kMaxBufferedBytes = std::size_t{64} << 20;

std::int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One key's DUMP and expiry replies, filled in on the client's loop thread.
struct Pending {
  std::string key;
  std::optional<Result<Reply>> dump;
  std::optional<Result<Reply>> expiry;
  std::int64_t expiry_unix_ms = 0;  // when the expiry reply arrived (PTTL is relative)
};

// The keys in flight, oldest first: results are written in SCAN order. The shared part outlives
// the command if it stops early (the callbacks still hold it).
// Thread safety: submit/pop/has_room on the command's thread only; the callbacks (loop thread)
// touch only the shared Sync and their own Pending, under Sync::m.
class Dumper {
 public:
  Dumper(Client& client, bool pexpiretime, std::size_t max_in_flight)
      : client_(client), pexpiretime_(pexpiretime), max_(max_in_flight) {}

  bool has_room() const {
    return queue_.size() < max_ && sync_->buffered.load() < kMaxBufferedBytes;
  }
  bool empty() const { return queue_.empty(); }

  void submit(std::string key) {
    auto p = std::make_shared<Pending>();
    p->key = std::move(key);
    queue_.push_back(p);
    client_.command_async({"DUMP", p->key}, [p, s = sync_](Result<Reply> r) {
      const std::size_t bytes = r ? r->str.size() : 0;
      std::lock_guard<std::mutex> lock(s->m);
      s->buffered += bytes;
      p->dump = std::move(r);
      s->cv.notify_all();
    });
    client_.command_async({pexpiretime_ ? "PEXPIRETIME" : "PTTL", p->key},
                          [p, s = sync_](Result<Reply> r) {
                            std::lock_guard<std::mutex> lock(s->m);
                            p->expiry_unix_ms = now_unix_ms();
                            p->expiry = std::move(r);
                            s->cv.notify_all();
                          });
  }

  // The oldest key, once both of its replies are in.
  std::shared_ptr<Pending> pop() {
    std::shared_ptr<Pending> p = std::move(queue_.front());
    queue_.pop_front();
    std::unique_lock<std::mutex> lock(sync_->m);
    sync_->cv.wait(lock, [&] { return p->dump.has_value() && p->expiry.has_value(); });
    if (p->dump->ok()) sync_->buffered -= (*p->dump)->str.size();
    return p;
  }

 private:
  struct Sync {
    std::mutex m;
    std::condition_variable cv;
    std::atomic<std::size_t> buffered{0};
  };
  Client& client_;
  const bool pexpiretime_;
  const std::size_t max_;
  std::shared_ptr<Sync> sync_ = std::make_shared<Sync>();
  std::deque<std::shared_ptr<Pending>> queue_;  // the command's thread only
};

// Whether the server knows PEXPIRETIME (Redis 7+); else the backup uses PTTL and the clock.
Result<bool> has_pexpiretime(Client& client) {
  auto r = client.command({"PEXPIRETIME", "rcache-cli:probe"});
  if (r) return true;
  if (r.error().code == Errc::server && r.error().message.find("unknown") != std::string::npos) {
    return false;  // ERR unknown command 'PEXPIRETIME'
  }
  return r.error();
}

struct Totals {
  std::uint64_t keys = 0, skipped = 0, dump_bytes = 0, file_bytes = 0;
};

}  // namespace

int run_backup(Context& ctx) {
  const std::string out = *ctx.inv().text("--out");
  const std::string pattern = ctx.inv().positionals.at(0);
  std::error_code ec;
  if (!ctx.inv().flag("--force") && std::filesystem::exists(out, ec)) {
    return ctx.fail(kUsage, "backup: --out: " + out + " exists (add --force to overwrite it)");
  }
  auto opened = open_client(ctx, "backup");
  if (const int* code = std::get_if<int>(&opened)) return *code;
  Client& client = *std::get<Client*>(opened);
  const auto start = std::chrono::steady_clock::now();
  auto pexpiretime = has_pexpiretime(client);
  if (!pexpiretime) return ctx.fail(pexpiretime.error(), "backup");

  const std::string partial = out + ".partial";
  std::FILE* f = std::fopen(partial.c_str(), "wb");
  if (f == nullptr) {
    return ctx.fail(kFailure, "backup: cannot write " + partial + ": " + std::strerror(errno));
  }
  std::setvbuf(f, nullptr, _IOFBF, std::size_t{1} << 20);
  Totals t;
  // Every way out before the rename: close and remove the partial file, report, exit 1.
  const auto abandon = [&](const std::string& why) {
    std::fclose(f);
    std::remove(partial.c_str());
    return ctx.fail(kFailure, "backup stopped after " + count_of(t.keys, "key") + ": " + why +
                                  "; nothing was written to " + out);
  };
  const auto write = [&](const std::string& line) {
    t.file_bytes += line.size();
    return std::fwrite(line.data(), 1, line.size(), f) == line.size();
  };
  if (!write(backup_header_line(now_unix_ms(), pattern, ctx.endpoint(),
                                *pexpiretime ? "pexpiretime" : "pttl"))) {
    return abandon(std::string("write error: ") + std::strerror(errno));
  }

  ScanRequest request;
  request.pattern = pattern;
  request.count = static_cast<std::size_t>(ctx.inv().number("--count", 1000));
  PageScan scan(client, request);
  Dumper dumper(client, *pexpiretime,
                static_cast<std::size_t>(ctx.inv().number("--in-flight", 256)));
  std::vector<std::string> page;
  std::size_t next = 0;
  Progress progress(ctx);
  for (;;) {
    while (dumper.has_room()) {
      if (next < page.size()) {
        dumper.submit(std::move(page[next++]));
      } else if (!scan.done()) {
        if (auto r = scan.next(page); !r) return abandon(describe(r.error()));
        next = 0;
      } else {
        break;
      }
    }
    if (dumper.empty()) break;
    const auto p = dumper.pop();
    if (!*p->dump) return abandon("DUMP: " + describe(p->dump->error()));
    if (!*p->expiry) return abandon("expiry: " + describe(p->expiry->error()));
    const Reply& dump = **p->dump;
    const Reply& expiry = **p->expiry;
    if (expiry.kind != Reply::Kind::integer ||
        (!dump.is_nil() && dump.kind != Reply::Kind::string)) {
      return abandon("unexpected reply to DUMP or the expiry of " + escape_key(p->key));
    }
    if (dump.is_nil() || expiry.integer == -2) {  // gone since SCAN
      ++t.skipped;
      continue;
    }
    std::optional<std::int64_t> expire_at;
    if (expiry.integer >= 0) {
      expire_at = *pexpiretime ? expiry.integer : p->expiry_unix_ms + expiry.integer;
    }
    if (!write(backup_key_line(p->key, expire_at, dump.str))) {
      return abandon(std::string("write error: ") + std::strerror(errno));
    }
    ++t.keys;
    t.dump_bytes += dump.str.size();
    progress.tick([&] {
      return "backup: " + count_of(t.keys, "key") + ", " + human_bytes(t.file_bytes) + " written";
    });
  }
  progress.done();
  if (!write(backup_trailer_line(t.keys, t.skipped)) || std::fflush(f) != 0 ||
      ::fsync(::fileno(f)) != 0) {
    return abandon(std::string("write error: ") + std::strerror(errno));
  }
  if (std::fclose(f) != 0) {
    std::remove(partial.c_str());
    return ctx.fail(kFailure, "backup: closing " + partial + ": " + std::strerror(errno));
  }
  if (std::rename(partial.c_str(), out.c_str()) != 0) {
    return ctx.fail(kFailure,
                    "backup: renaming " + partial + " to " + out + ": " + std::strerror(errno));
  }
  const double secs = seconds_since(start);
  ctx.note("backed up " + count_of(t.keys, "key") + " (" + human_bytes(t.dump_bytes) +
           " of DUMP payload, file " + human_bytes(t.file_bytes) + ") to " + out + " in " +
           fixed(secs, 2) + " s" +
           (t.skipped > 0 ? "; " + with_commas(t.skipped) + " skipped (gone since SCAN)" : ""));
  if (ctx.json()) {
    ctx.out("{\"ok\":true,\"command\":\"backup\",\"file\":" +
            json_string(is_utf8(out) ? out : escape_key(out)) +
            ",\"keys\":" + std::to_string(t.keys) + ",\"skipped\":" + std::to_string(t.skipped) +
            ",\"dump_bytes\":" + std::to_string(t.dump_bytes) +
            ",\"file_bytes\":" + std::to_string(t.file_bytes) + ",\"seconds\":" + fixed(secs, 3) +
            ",\"expiry\":\"" + (*pexpiretime ? "pexpiretime" : "pttl") + "\"}\n");
  }
  return kOk;
}

}  // namespace rcache::cli
