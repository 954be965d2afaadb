// A one-shot wake-up word for one waiting thread, on the Linux futex: the waker's store and
// FUTEX_WAKE are its whole cost, and the woken thread needs no mutex afterwards (a condition
// variable notified under its lock wakes the waiter straight into that lock, often one more
// sleep and switch).
//
// The waiter may return, and free the word, as soon as it sees the store: FUTEX_WAKE on an
// address whose owner is gone only uses the address as a key (at worst one spurious wake-up of
// whoever waits there next, which every futex waiter tolerates by re-checking its word).
//
// Thread safety: one thread calls wait(), any one thread calls set() once.
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

namespace rcache::detail {

class OneShotFutex {
 public:
  bool is_set() const noexcept { return word_.load(std::memory_order_acquire) != 0; }

  void set() noexcept {
    word_.store(1, std::memory_order_release);
    syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word_), FUTEX_WAKE_PRIVATE, 1, nullptr,
            nullptr, 0);
  }

  void wait() noexcept {
    while (word_.load(std::memory_order_acquire) == 0) {
      // Returns at once if the word is no longer 0 (EAGAIN), on a wake-up, or spuriously.
      syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word_), FUTEX_WAIT_PRIVATE, 0, nullptr,
              nullptr, 0);
    }
  }

 private:
  static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
  std::atomic<std::uint32_t> word_{0};
};

}  // namespace rcache::detail
