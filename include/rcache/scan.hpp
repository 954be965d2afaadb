// rcache — iterating keys by SCAN, a page per round trip.
//
//   auto keys = client.scan({.match = "session:*", .type = "hash"});
//   for (const std::string& key : keys) { ... }     // key_prefix already stripped
//   if (!keys.ok()) log(keys.error().to_string());  // the scan stopped on this error
//
// Or page by page: `while (auto page = keys.next_page()) { if (!*page) break; ... }` - see
// next_page(). Each page is one SCAN call on the Client (deadline, breaker and retries apply;
// SCAN is idempotent). With a cluster the masters are scanned one after the other, each with its
// own cursor.
//
// What SCAN promises, and so what this promises: every key that exists from the start to the end
// of the iteration is visited; a key written or deleted meanwhile may or may not be; a key may be
// visited twice if the server resizes its table meanwhile (never on a keyspace nobody writes).
// Memory is one page at a time.
//
// Thread safety: one KeyScan is used by one thread at a time; it must not outlive its Client.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "rcache/error.hpp"
#include "rcache/export.hpp"
#include "rcache/types.hpp"

namespace rcache {

namespace detail {
class ClientCore;
struct ScanState;
}  // namespace detail

class RCACHE_API KeyScan {
 public:
  RCACHE_LOCAL KeyScan(detail::ClientCore& core, ScanOptions options);
  ~KeyScan();
  KeyScan(KeyScan&&) noexcept;
  KeyScan& operator=(KeyScan&&) noexcept;
  KeyScan(const KeyScan&) = delete;
  KeyScan& operator=(const KeyScan&) = delete;

  // The next page of keys (it may be empty while the scan goes on); std::nullopt once every
  // cursor has come back to 0; an error stops the scan (later calls return it again).
  Result<std::optional<std::vector<std::string>>> next_page();

  // False once the scan stopped on an error (then error() says which).
  bool ok() const noexcept;
  const Error& error() const noexcept;
  // Every cursor came back to 0, or the scan stopped on an error.
  bool done() const noexcept;
  // Keys returned so far.
  std::uint64_t visited() const noexcept;

  // Input iterator over the keys, for range-for. Advancing fetches pages as needed; an error
  // ends the iteration (check ok() after the loop).
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = std::string;
    using difference_type = std::ptrdiff_t;
    using pointer = const std::string*;
    using reference = const std::string&;

    iterator() = default;
    reference operator*() const { return (*page_)[pos_]; }
    pointer operator->() const { return &(*page_)[pos_]; }
    iterator& operator++();
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& a, const iterator& b) noexcept {
      return a.scan_ == b.scan_;
    }

   private:
    friend class KeyScan;
    explicit iterator(KeyScan* scan);
    void settle();  // past empty pages; the end when there is nothing more
    KeyScan* scan_ = nullptr;
    const std::vector<std::string>* page_ = nullptr;
    std::size_t pos_ = 0;
  };
  // Starts (or continues) the iteration where the scan is.
  iterator begin() { return iterator(this); }
  iterator end() noexcept { return iterator(); }

 private:
  std::unique_ptr<detail::ScanState> state_;
  std::vector<std::string> page_;  // the iterator's current page
};

}  // namespace rcache
