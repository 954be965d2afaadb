// rcache backup / restore: a 100,000-key round trip (binary keys and values, TTLs, other types),
// dry runs that write nothing, conflicts with and without --replace, and damaged files that stop
// with the line number.
#include <chrono>
#include <cstdio>
#include <regex>

#include "cli_fixture.hpp"

namespace rcache::test {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

// Key i: every tenth is not UTF-8 and ends in a NUL byte.
std::string key_of(int i) {
  if (i % 10 == 0) return std::string("bk:\xff\xfe", 5) + std::to_string(i) + std::string(1, '\0');
  return "bk:" + std::to_string(i);
}
// Value i: binary, NUL bytes included, lengths varying.
std::string value_of(int i) {
  std::string v = "v" + std::to_string(i);
  v += '\0';
  v += static_cast<char>(i & 0xFF);
  v += "\xff\x80";
  v.append(static_cast<std::size_t>(i % 7), static_cast<char>(i % 251));
  return v;
}
bool has_ttl(int i) {
  return i % 3 == 0;
}

// A JSON summary's integer member: "\"name\":123".
long long json_int(const std::string& json, const std::string& name) {
  const auto at = json.find("\"" + name + "\":");
  if (at == std::string::npos) return -1;
  return std::stoll(json.substr(at + name.size() + 3));
}

class BackupTest : public CliTest {
 protected:
  // A few string keys, one with a TTL, and a backup of them in backup.jsonl.
  void small_backup() {
    for (int i = 0; i < 10; ++i)
      redis({"SET", "s:" + std::to_string(i), "value-" + std::to_string(i)});
    redis({"PEXPIRE", "s:0", "600000"});
    const auto r = cli({"backup", "s:*", "--out", file("backup.jsonl")});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    ASSERT_EQ(split_lines(slurp(file("backup.jsonl"))).size(), 12u);
  }
};

TEST_F(BackupTest, HundredThousandKeysRoundTripExactly) {
  constexpr int kKeys = 100000;
  constexpr int kBatch = 5000;
  for (int start = 0; start < kKeys; start += kBatch) {
    std::vector<std::vector<std::string>> cmds;
    for (int i = start; i < start + kBatch; ++i) {
      std::vector<std::string> c = {"SET", key_of(i), value_of(i)};
      if (has_ttl(i)) c.insert(c.end(), {"PX", std::to_string(600000 + (i % 1000) * 100)});
      cmds.push_back(std::move(c));
    }
    pipeline(cmds);
  }
  redis({"HSET", "bk:hash", "f1", std::string("a\0b", 3), "f2", "x"});
  redis({"PEXPIRE", "bk:hash", "900000"});
  redis({"RPUSH", "bk:list", "1", std::string(1, '\0'), "three"});
  redis({"ZADD", "bk:zset", "1", "one", "2", "two"});
  redis({"SADD", "bk:set", "a", "b"});
  redis({"SET", "not-in-backup", "x"});
  const int total = kKeys + 4;
  ASSERT_EQ(dbsize(), total + 1);

  std::vector<std::vector<std::string>> expiry_cmds;
  expiry_cmds.reserve(kKeys);
  for (int i = 0; i < kKeys; ++i) expiry_cmds.push_back({"PEXPIRETIME", key_of(i)});
  const std::vector<Reply> before = pipeline(expiry_cmds);
  const std::int64_t hash_expiry = redis({"PEXPIRETIME", "bk:hash"}).integer;

  const auto backup = cli({"--json", "--progress", "backup", "bk:*", "--out", file("all.jsonl")});
  ASSERT_EQ(backup.exit_code, 0) << backup.describe();
  EXPECT_EQ(json_int(backup.out, "keys"), total) << backup.out;
  EXPECT_EQ(json_int(backup.out, "skipped"), 0);
  EXPECT_FALSE(std::filesystem::exists(file("all.jsonl.partial")));
  std::printf("backup of %d keys: %lld ms, peak RSS %ld KiB, file %lld bytes\n", total,
              static_cast<long long>(backup.elapsed.count()), backup.max_rss_kib,
              json_int(backup.out, "file_bytes"));
  EXPECT_LT(backup.elapsed.count(), 20000);
  // Sanitizer builds carry shadow memory and a quarantine of freed blocks: a wider bound.
#if defined(RCACHE_SANITIZED)
  constexpr long kMaxRssKib = 512 * 1024;
#else
  constexpr long kMaxRssKib = 64 * 1024;
#endif
  EXPECT_LT(backup.max_rss_kib, kMaxRssKib) << "the backup must stream, not hold the keyspace";

  ASSERT_EQ(redis({"FLUSHALL"}).str, "OK");
  ASSERT_EQ(dbsize(), 0);
  const auto restore = cli({"--json", "restore", file("all.jsonl")});
  ASSERT_EQ(restore.exit_code, 0) << restore.describe();
  EXPECT_EQ(json_int(restore.out, "restored"), total) << restore.out;
  EXPECT_EQ(json_int(restore.out, "conflicts"), 0);
  std::printf("restore of %d keys: %lld ms, peak RSS %ld KiB\n", total,
              static_cast<long long>(restore.elapsed.count()), restore.max_rss_kib);
  EXPECT_LT(restore.elapsed.count(), 20000);
  ASSERT_EQ(dbsize(), total);

  std::vector<std::vector<std::string>> reads;
  reads.reserve(kKeys);
  for (int i = 0; i < kKeys; ++i) reads.push_back({"GET", key_of(i)});
  const std::vector<Reply> values = pipeline(reads);
  const std::vector<Reply> after = pipeline(expiry_cmds);
  int wrong_values = 0, wrong_ttls = 0;
  for (int i = 0; i < kKeys; ++i) {
    if (values[i].str != value_of(i)) ++wrong_values;
    if (has_ttl(i)) {
      // Absolute expiries: equal within a second means the remaining TTL is too.
      if (before[i].integer <= 0 || std::llabs(after[i].integer - before[i].integer) > 1000) {
        ++wrong_ttls;
      }
    } else if (after[i].integer != -1) {
      ++wrong_ttls;
    }
  }
  EXPECT_EQ(wrong_values, 0);
  EXPECT_EQ(wrong_ttls, 0);
  const auto hash = redis({"HGETALL", "bk:hash"});
  ASSERT_EQ(hash.elements.size(), 4u);
  EXPECT_EQ(hash.elements[1].str, std::string("a\0b", 3));
  EXPECT_LE(std::llabs(redis({"PEXPIRETIME", "bk:hash"}).integer - hash_expiry), 1000);
  const auto list = redis({"LRANGE", "bk:list", "0", "-1"});
  ASSERT_EQ(list.elements.size(), 3u);
  EXPECT_EQ(list.elements[1].str, std::string(1, '\0'));
  EXPECT_EQ(redis({"ZSCORE", "bk:zset", "two"}).str, "2");
  EXPECT_EQ(redis({"SCARD", "bk:set"}).integer, 2);
  EXPECT_EQ(redis({"PEXPIRETIME", "bk:list"}).integer, -1);
}

TEST_F(BackupTest, BackupRefusesToOverwriteWithoutForce) {
  small_backup();
  const auto again = cli({"backup", "s:*", "--out", file("backup.jsonl")});
  EXPECT_EQ(again.exit_code, 2) << again.describe();
  EXPECT_THAT(again.err, HasSubstr("add --force"));
  EXPECT_EQ(cli({"backup", "s:*", "--out", file("backup.jsonl"), "--force"}).exit_code, 0);
}

TEST_F(BackupTest, RestoreDryRunWritesNothing) {
  small_backup();
  redis({"FLUSHALL"});
  redis({"CONFIG", "RESETSTAT"});
  const auto r = cli({"--json", "restore", file("backup.jsonl"), "--dry-run"});
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_THAT(r.out, AllOf(HasSubstr("\"dry_run\":true"), HasSubstr("\"keys\":10"),
                           HasSubstr("\"restored\":0"), HasSubstr("\"existing\":0")));
  EXPECT_EQ(dbsize(), 0);
  EXPECT_THAT(redis({"INFO", "commandstats"}).str, Not(HasSubstr("cmdstat_restore")));
}

TEST_F(BackupTest, RestoreLeavesExistingKeysAndReportsConflictsUnlessReplace) {
  small_backup();
  redis({"FLUSHALL"});
  redis({"SET", "s:1", "changed"});
  redis({"SET", "s:2", "changed"});

  const auto dry = cli({"restore", file("backup.jsonl"), "--dry-run"});
  EXPECT_EQ(dry.exit_code, 5) << dry.describe();
  EXPECT_THAT(dry.out, HasSubstr("2 exist already"));
  EXPECT_EQ(dbsize(), 2);

  const auto r = cli({"--json", "restore", file("backup.jsonl")});
  EXPECT_EQ(r.exit_code, 5) << r.describe();
  EXPECT_THAT(r.out, AllOf(HasSubstr("\"restored\":8"), HasSubstr("\"conflicts\":2")));
  EXPECT_THAT(r.err, AllOf(HasSubstr("2 keys already existed"), HasSubstr("s:1"), HasSubstr("s:2"),
                           HasSubstr("--replace")));
  EXPECT_EQ(redis({"GET", "s:1"}).str, "changed");
  EXPECT_EQ(redis({"GET", "s:2"}).str, "changed");
  EXPECT_EQ(dbsize(), 10);

  const auto replace = cli({"restore", file("backup.jsonl"), "--replace"});
  EXPECT_EQ(replace.exit_code, 0) << replace.describe();
  EXPECT_EQ(redis({"GET", "s:1"}).str, "value-1");
  EXPECT_EQ(redis({"GET", "s:2"}).str, "value-2");
  EXPECT_GT(redis({"PTTL", "s:0"}).integer, 590000);
}

TEST_F(BackupTest, ATruncatedFileStopsNamingTheLineAndCountsWhatWasRestored) {
  small_backup();
  redis({"FLUSHALL"});
  const auto lines = split_lines(slurp(file("backup.jsonl")));
  std::string cut;
  for (std::size_t i = 0; i + 1 < lines.size(); ++i) cut += lines[i] + "\n";  // no trailer
  write_file(file("cut.jsonl"), cut);
  const auto r = cli({"restore", file("cut.jsonl")});
  EXPECT_EQ(r.exit_code, 6) << r.describe();
  EXPECT_THAT(r.err, AllOf(HasSubstr("ends after line 11 without its trailer"),
                           HasSubstr("restored 10 keys before it")));

  // Cut inside a line, as a copy interrupted mid-write leaves it.
  redis({"FLUSHALL"});
  write_file(file("mid.jsonl"), cut.substr(0, cut.size() - 20));
  const auto mid = cli({"restore", file("mid.jsonl")});
  EXPECT_EQ(mid.exit_code, 6) << mid.describe();
  EXPECT_THAT(mid.err, AllOf(HasSubstr("line 11:"), HasSubstr("the file ends inside this line"),
                             HasSubstr("restored 9 keys before it")));
  EXPECT_EQ(dbsize(), 9);
}

TEST_F(BackupTest, ACorruptLineStopsNamingTheLine) {
  small_backup();
  const auto lines = split_lines(slurp(file("backup.jsonl")));
  const auto with_line5 = [&](const std::string& replacement) {
    std::string text;
    for (std::size_t i = 0; i < lines.size(); ++i) text += (i == 4 ? replacement : lines[i]) + "\n";
    return text;
  };
  struct Case {
    std::string line5, says;
  };
  const std::vector<Case> cases = {
      {"this is not json", "line 5: not a valid JSON object"},
      {"{\"key\":\"s:x\",\"expire_at_unix_ms\":null,\"dump_b64\":\"@@@@\"}",
       "line 5: \"dump_b64\" is not valid base64"},
      {"{\"key\":\"s:x\",\"dump_b64\":\"AAF4CgAigIZfvehI0A==\"}", "line 5: \"expire_at_unix_ms\""},
  };
  for (const auto& c : cases) {
    redis({"FLUSHALL"});
    write_file(file("bad.jsonl"), with_line5(c.line5));
    const auto dry = cli({"restore", file("bad.jsonl"), "--dry-run"});
    EXPECT_EQ(dry.exit_code, 6) << dry.describe();
    EXPECT_THAT(dry.err, AllOf(HasSubstr(c.says), HasSubstr("nothing was written")));
    const auto r = cli({"restore", file("bad.jsonl")});
    EXPECT_EQ(r.exit_code, 6) << r.describe();
    EXPECT_THAT(r.err, AllOf(HasSubstr(c.says), HasSubstr("restored 3 keys before it")));
    EXPECT_EQ(dbsize(), 3);
  }
  write_file(file("notbackup.jsonl"), "{\"hello\":1}\n");
  const auto r = cli({"restore", file("notbackup.jsonl")});
  EXPECT_EQ(r.exit_code, 6);
  EXPECT_THAT(r.err, HasSubstr("line 1: not an rcache backup"));
  const auto missing = cli({"restore", file("missing.jsonl")});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("cannot open"));
}

TEST_F(BackupTest, RestoreSkipsKeysThatExpiredSinceTheBackup) {
  small_backup();
  redis({"FLUSHALL"});
  // s:0, the only key with an expiry, expired long ago.
  const std::regex expiry(R"("expire_at_unix_ms":\d+)");
  const std::string text =
      std::regex_replace(slurp(file("backup.jsonl")), expiry, "\"expire_at_unix_ms\":1000",
                         std::regex_constants::format_first_only);
  ASSERT_THAT(text, HasSubstr("\"expire_at_unix_ms\":1000,"));
  write_file(file("expired.jsonl"), text);
  const auto r = cli({"--json", "restore", file("expired.jsonl")});
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_THAT(r.out, AllOf(HasSubstr("\"restored\":9"), HasSubstr("\"expired\":1")));
  EXPECT_EQ(redis({"EXISTS", "s:0"}).integer, 0);
}

TEST_F(BackupTest, BackupFileHasHeaderKeyLinesAndTrailer) {
  redis({"SET", std::string("k\xff", 2), "v"});
  redis({"SET", "plain", "v"});
  const auto r = cli({"backup", "*", "--out", file("b.jsonl")});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  const auto lines = split_lines(slurp(file("b.jsonl")));
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_THAT(lines[0], AllOf(HasSubstr("{\"rcache_backup\":1,\"created_unix_ms\":"),
                              HasSubstr("\"pattern\":\"*\"")));
  const std::string body = lines[1] + lines[2];
  EXPECT_THAT(body,
              AllOf(HasSubstr("{\"key_b64\":\"a/8=\",\"expire_at_unix_ms\":null,"),
                    HasSubstr("{\"key\":\"plain\",\"expire_at_unix_ms\":null,\"dump_b64\":")));
  EXPECT_EQ(lines[3], "{\"end\":true,\"keys\":2,\"skipped\":0}");
}

}  // namespace
}  // namespace rcache::test
