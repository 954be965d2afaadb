// rcache CLI: restore: a backup file, streamed line by line into RESTORE ... ABSTTL with a bounded
// number (and size) of commands in flight; --dry-run checks the whole file and sends only EXISTS.
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>

#include "backup_format.hpp"
#include "progress.hpp"
#include "text.hpp"

namespace rcache::cli {
namespace {

constexpr std::size_t kMaxBytesInFlight = std::size_t{64} << 20;
constexpr std::size_t kKeysListed = 10;  // conflicting or failed keys named in the report

std::int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// What the RESTORE (or EXISTS) callbacks record, on the client's loop thread.
struct Outcomes {
  std::mutex m;
  std::condition_variable cv;
  std::size_t in_flight = 0, bytes_in_flight = 0;
  std::uint64_t restored = 0, conflicts = 0, failed = 0, existing = 0;
  std::vector<std::string> conflict_keys;  // the first kKeysListed, escaped
  std::vector<std::string> failures;       // "key: message", the first kKeysListed
  std::optional<Error> fatal;              // a connection-level error: the restore stops
};

// Sends with a bound on calls and payload bytes in flight.
// Thread safety: send/stopped/drain on the command's thread; the callbacks (loop thread) update
// the shared Outcomes under its mutex, which outlives the command if it stops early.
class Sender {
 public:
  Sender(Client& client, std::size_t max_in_flight) : client_(client), max_(max_in_flight) {}

  // Blocks until the command fits the bounds, then sends it. `exists`: a dry run's EXISTS.
  void send(std::vector<std::string> argv, std::string key, bool exists) {
    const std::size_t bytes = argv.size() > 3 ? argv[3].size() : 0;
    {
      std::unique_lock<std::mutex> lock(o_->m);
      o_->cv.wait(lock, [&] {
        return o_->in_flight < max_ &&
               (o_->in_flight == 0 || o_->bytes_in_flight + bytes <= kMaxBytesInFlight);
      });
      ++o_->in_flight;
      o_->bytes_in_flight += bytes;
    }
    client_.command_async(argv, [o = o_, bytes, exists, key = std::move(key)](Result<Reply> r) {
      std::lock_guard<std::mutex> lock(o->m);
      --o->in_flight;
      o->bytes_in_flight -= bytes;
      o->cv.notify_all();
      if (r) {
        if (!exists) {
          ++o->restored;
        } else if (r->kind == Reply::Kind::integer && r->integer > 0) {
          ++o->existing;
          if (o->conflict_keys.size() < kKeysListed) o->conflict_keys.push_back(escape_key(key));
        }
      } else if (r.error().code == Errc::server &&
                 r.error().message.find("BUSYKEY") != std::string::npos) {
        ++o->conflicts;
        if (o->conflict_keys.size() < kKeysListed) o->conflict_keys.push_back(escape_key(key));
      } else if (r.error().code == Errc::server) {  // e.g. a payload from a newer Redis
        ++o->failed;
        if (o->failures.size() < kKeysListed) {
          o->failures.push_back(escape_key(key) + ": " + r.error().message);
        }
      } else if (!o->fatal) {
        o->fatal = r.error();
      }
    });
  }

  bool stopped() {
    std::lock_guard<std::mutex> lock(o_->m);
    return o_->fatal.has_value();
  }

  // Waits for every command sent; the outcomes are final after it.
  Outcomes& drain() {
    std::unique_lock<std::mutex> lock(o_->m);
    o_->cv.wait(lock, [&] { return o_->in_flight == 0; });
    return *o_;
  }

 private:
  Client& client_;
  const std::size_t max_;
  std::shared_ptr<Outcomes> o_ = std::make_shared<Outcomes>();
};

std::string listed(const std::vector<std::string>& items, std::uint64_t total) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  if (total > items.size()) out += " and " + with_commas(total - items.size()) + " more";
  return out;
}

}  // namespace

int run_restore(Context& ctx) {
  const std::string file = ctx.inv().positionals.at(0);
  const bool dry_run = ctx.inv().flag("--dry-run");
  const bool replace = ctx.inv().flag("--replace");
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(file.c_str(), "rb"), &std::fclose);
  if (!f) return ctx.fail(kFailure, "restore: cannot open " + file + ": " + std::strerror(errno));
  auto opened = open_client(ctx, "restore");
  if (const int* code = std::get_if<int>(&opened)) return *code;
  Client& client = *std::get<Client*>(opened);
  const auto start = std::chrono::steady_clock::now();

  // A line holds a key and a payload, each at most max_value_size, base64-encoded.
  const std::size_t max_line = (client.config().max_value_size / 3 + 1) * 4 * 2 + 65536;
  LineReader reader(f.get(), max_line);
  Sender sender(client, static_cast<std::size_t>(ctx.inv().number("--in-flight", 256)));
  std::uint64_t keys = 0, expired = 0;
  bool trailer = false;
  std::string bad;  // what is wrong with the file, with its line number
  std::string line, why;
  Progress progress(ctx);
  while (bad.empty() && !sender.stopped()) {
    const auto status = reader.next(line);
    const std::string at = "line " + std::to_string(reader.line_number());
    if (status == LineReader::Status::eof) {
      if (!trailer) {
        bad = reader.line_number() == 0
                  ? "line 1: the file is empty, not an rcache backup"
                  : "the file ends after line " + std::to_string(reader.line_number()) +
                        " without its trailer line ({\"end\":true,...}): a truncated backup";
      }
      break;
    }
    if (status == LineReader::Status::io_error) {
      bad = "read error after line " + std::to_string(reader.line_number() - 1) + ": " +
            std::strerror(errno);
      break;
    }
    if (status == LineReader::Status::too_long) {
      bad = at + ": longer than " + std::to_string(max_line) + " bytes";
      break;
    }
    if (trailer) {
      bad = at + ": text after the trailer line";
      break;
    }
    auto parsed = parse_backup_line(line, reader.line_number() == 1, why);
    if (!parsed) {
      bad = at;
      bad.append(": ").append(why);
      if (reader.unterminated()) bad += " (the file ends inside this line: a truncated backup)";
      break;
    }
    if (parsed->kind == BackupLine::Kind::header) continue;
    if (parsed->kind == BackupLine::Kind::trailer) {
      if (parsed->trailer_keys != keys) {
        bad = at + ": the trailer counts " + std::to_string(parsed->trailer_keys) +
              " keys but the file has " + std::to_string(keys);
      }
      trailer = true;
      continue;
    }
    ++keys;
    progress.tick([&] { return "restore: " + count_of(keys, "key") + " read"; });
    if (parsed->expire_at_unix_ms && *parsed->expire_at_unix_ms <= now_unix_ms()) {
      ++expired;
      continue;
    }
    if (dry_run) {
      sender.send({"EXISTS", parsed->key}, parsed->key, true);
      continue;
    }
    std::vector<std::string> argv = {"RESTORE", parsed->key,
                                     std::to_string(parsed->expire_at_unix_ms.value_or(0)),
                                     std::move(parsed->dump)};
    if (parsed->expire_at_unix_ms) argv.emplace_back("ABSTTL");
    if (replace) argv.emplace_back("REPLACE");
    sender.send(std::move(argv), std::move(parsed->key), false);
  }
  progress.done();
  Outcomes& o = sender.drain();
  const std::string done_so_far =
      dry_run ? "nothing was written (dry run)"
              : "restored " + count_of(o.restored, "key") + " before it" +
                    (o.conflicts > 0 ? " (" + with_commas(o.conflicts) + " conflicts)" : "");
  if (o.fatal) {
    return ctx.fail(kFailure, "restore stopped: " + describe(*o.fatal) + "; " + done_so_far);
  }
  if (!bad.empty())
    return ctx.fail(kBadBackupFile, "restore: " + file + ": " + bad + "; " + done_so_far);

  const std::uint64_t conflicts = dry_run ? (replace ? 0 : o.existing) : o.conflicts;
  const double secs = seconds_since(start);
  if (dry_run) {
    ctx.note("dry run: " + file + " is a complete backup of " + with_commas(keys) +
             " keys: would restore " + with_commas(keys - expired - conflicts) + ", skip " +
             with_commas(expired) + " expired; " + with_commas(o.existing) + " exist already (" +
             (replace ? "would be replaced" : "conflicts without --replace") +
             "); nothing written");
  } else {
    ctx.note("restored " + with_commas(o.restored) + " of " + count_of(keys, "key") + " from " +
             file + " in " + fixed(secs, 2) + " s (" + with_commas(expired) +
             " expired and skipped, " + with_commas(o.conflicts) + " conflicts, " +
             with_commas(o.failed) + " failed)");
  }
  if (conflicts > 0) {
    ctx.warn(count_of(conflicts, "key") + " " +
             (dry_run ? (conflicts == 1 ? "exists" : "exist") : "already existed") + " and " +
             (dry_run ? "would be" : "were") +
             " left as they are (add --replace to overwrite them): " +
             listed(o.conflict_keys, conflicts));
  }
  if (o.failed > 0)
    ctx.warn(count_of(o.failed, "key") + " failed: " + listed(o.failures, o.failed));
  if (ctx.json()) {
    ctx.out(std::string("{\"ok\":") + (conflicts + o.failed == 0 ? "true" : "false") +
            ",\"command\":\"restore\",\"file\":" +
            json_string(is_utf8(file) ? file : escape_key(file)) + ",\"dry_run\":" +
            (dry_run ? "true" : "false") + ",\"replace\":" + (replace ? "true" : "false") +
            ",\"keys\":" + std::to_string(keys) + ",\"restored\":" + std::to_string(o.restored) +
            ",\"expired\":" + std::to_string(expired) + ",\"conflicts\":" +
            std::to_string(conflicts) + ",\"failed\":" + std::to_string(o.failed) +
            ",\"existing\":" + (dry_run ? std::to_string(o.existing) : "null") +
            ",\"seconds\":" + fixed(secs, 3) + "}\n");
  }
  return conflicts + o.failed > 0 ? kPartial : kOk;
}

}  // namespace rcache::cli
