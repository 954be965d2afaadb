// rcache CLI: THE one place the CLI reaches the key space: SCAN pages, counting and deleting by
// pattern, on the library's Client::scan (KeyScan), delete_pattern's dry run (count) and
// delete_pattern with progress. With a Redis Cluster URL they cover every master.
//
// Thread safety: a PageScan belongs to one thread; the functions are blocking calls. A
// ProgressFn may be called on the client's loop thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "rcache/rcache.hpp"

namespace rcache::cli {

struct ScanRequest {
  std::string pattern;       // glob, as SCAN's MATCH (Config::key_prefix prepended)
  std::size_t count = 1000;  // SCAN's COUNT hint
  std::string type;          // SCAN's TYPE filter; "" for every type
};

// Keys seen (count_keys) or removed (delete_keys) so far, after each page.
using ProgressFn = std::function<void(std::uint64_t so_far)>;

// SCAN cursor by cursor, a page per call, until the cursor comes back to 0.
class PageScan {
 public:
  PageScan(Client& client, ScanRequest options);

  bool done() const { return done_; }
  // Replaces `page` with the next page's keys (possibly none). Must not be called once done().
  Result<void> next(std::vector<std::string>& page);

 private:
  Client& client_;
  ScanRequest options_;
  KeyScan scan_;
  bool done_ = false;
};

Result<std::uint64_t> count_keys(Client& client, const ScanRequest& options,
                                 const ProgressFn& progress);

// SCAN + UNLINK page by page, the last page (the one that comes with cursor 0) included. On an
// error the message says how many keys were removed before it.
Result<std::uint64_t> delete_keys(Client& client, const ScanRequest& options,
                                  const ProgressFn& progress);

}  // namespace rcache::cli
